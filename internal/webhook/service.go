package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"sendpool/internal/queue"
)

// InvalidError is a registration the API refuses (400), saying why.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

func invalid(format string, args ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}

// ServiceConfig configures a Service.
type ServiceConfig struct {
	Store     Store
	Endpoints *Endpoints
	Client    *Client // checks URLs
	// RotateGrace is how long a secret replaced by a rotation keeps
	// signing beside the new one (webhook.rotate_grace).
	RotateGrace time.Duration
	Now         func() time.Time // nil: time.Now
	Logger      *slog.Logger     // nil: discard
}

// Service is what the API does with endpoints and the feed.
type Service struct {
	cfg ServiceConfig
	log *slog.Logger
}

// NewService returns a Service.
func NewService(cfg ServiceConfig) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, log: cfg.Logger}
}

// Create registers an endpoint and returns it with its secret, which is
// shown this once. No events listed: DefaultTypes. The URL is checked as a
// delivery destination is (client.go); an account's endpoint may not ask
// for pool events. The caller checks that the account exists.
func (s *Service) Create(ctx context.Context, url string, events []Type, account string) (*Endpoint, string, error) {
	if len(events) == 0 {
		events = DefaultTypes()
		if account != "" {
			events = slices.DeleteFunc(events, Type.Global)
		}
	}
	var seen []Type
	for _, t := range events {
		if !t.Valid() {
			return nil, "", invalid("unknown event type %q (known: %s)", t, typeList())
		}
		if account != "" && t.Global() {
			return nil, "", invalid("event type %q concerns the whole pool: only a global endpoint (no account) gets it", t)
		}
		if !slices.Contains(seen, t) {
			seen = append(seen, t)
		}
	}
	u, err := s.cfg.Client.CheckURL(ctx, url)
	if err != nil {
		return nil, "", invalid("%v", err)
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, "", err
	}
	now := s.cfg.Now()
	e := &Endpoint{ID: "wh_" + queue.NewID(now), URL: u.String(), Events: seen, Account: account,
		Secrets: []Secret{{Value: secret}}, Created: now}
	if err := s.cfg.Store.CreateEndpoint(ctx, e); err != nil {
		return nil, "", err
	}
	s.cfg.Endpoints.Invalidate()
	s.log.Info("webhook endpoint added", "webhook", e.ID, "url", e.URL, "account", account, "events", seen)
	return e, secret, nil
}

func typeList() string {
	var names []string
	for _, t := range AllTypes() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// List returns every endpoint.
func (s *Service) List(ctx context.Context) ([]*Endpoint, error) {
	return s.cfg.Store.ListEndpoints(ctx)
}

// Get returns one endpoint; ErrNotFound if there is none.
func (s *Service) Get(ctx context.Context, id string) (*Endpoint, error) {
	return s.cfg.Store.GetEndpoint(ctx, id)
}

// Delete removes an endpoint and what was still due to it.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.cfg.Store.DeleteEndpoint(ctx, id); err != nil {
		return err
	}
	s.cfg.Endpoints.Invalidate()
	s.log.Info("webhook endpoint removed", "webhook", id)
	return nil
}

// Rotate gives an endpoint a new secret, the old one signing beside it for
// RotateGrace, and returns the new one (shown this once).
func (s *Service) Rotate(ctx context.Context, id string) (*Endpoint, string, error) {
	e, err := s.cfg.Store.GetEndpoint(ctx, id)
	if err != nil {
		return nil, "", err
	}
	now := s.cfg.Now()
	secrets, fresh, err := Rotate(e.Secrets, now, s.cfg.RotateGrace)
	if err != nil {
		return nil, "", err
	}
	if err := s.cfg.Store.SetSecrets(ctx, id, secrets); err != nil {
		return nil, "", err
	}
	s.cfg.Endpoints.Invalidate()
	e.Secrets = secrets
	s.log.Info("webhook secret rotated", "webhook", id, "old_until", now.Add(s.cfg.RotateGrace))
	return e, fresh, nil
}

// Enable turns an endpoint's breaker back: what waited for it goes again.
func (s *Service) Enable(ctx context.Context, id string) (*Endpoint, error) {
	if err := s.cfg.Store.SetHealth(ctx, id, Health{}); err != nil {
		return nil, err
	}
	s.cfg.Endpoints.Invalidate()
	s.log.Info("webhook endpoint enabled", "webhook", id)
	return s.cfg.Store.GetEndpoint(ctx, id)
}

// MaxFeed is the most events one feed page holds.
const MaxFeed = 1000

// Feed returns up to limit events after the cursor (of account, "" for
// all) and the cursor to continue from.
func (s *Service) Feed(ctx context.Context, after int64, account string, limit int) ([]Event, int64, error) {
	if after < 0 {
		return nil, 0, invalid("after: a cursor is 0 or more")
	}
	limit = min(max(limit, 1), MaxFeed)
	return s.cfg.Store.Feed(ctx, after, account, limit, s.cfg.Now())
}
