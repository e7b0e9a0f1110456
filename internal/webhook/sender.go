package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// SenderConfig configures a Sender. Every duration is given (config keeps
// the defaults).
type SenderConfig struct {
	Store     Store
	Endpoints *Endpoints
	Client    *Client
	// Owner names this node's claims.
	Owner   string
	Now     func() time.Time // nil: time.Now
	Logger  *slog.Logger     // nil: discard
	Metrics Metrics          // nil: none
	// Timeout bounds one request, answer included (webhook.timeout).
	Timeout time.Duration
	// Concurrency is how many requests this node has in flight to one
	// endpoint at most (webhook.concurrency).
	Concurrency int
	// LeaseFor is how long a claim lasts: well over Timeout.
	LeaseFor time.Duration
	// Poll is how often the outbox is looked at when nothing wakes the
	// sender (another node's events, retries coming due).
	Poll time.Duration
	// Retry is the retry schedule, its last step repeating, each step
	// ±20% (webhook.retry); RetryFor is how long after the event a send
	// is given up (webhook.retry_for).
	Retry    []time.Duration
	RetryFor time.Duration
	// DisableAfter is how long an endpoint may fail without one success
	// before it is disabled (webhook.disable_after).
	DisableAfter time.Duration
	// OnDisabled, if set, is told of each endpoint the breaker disables
	// (the Emitter's EndpointDisabled).
	OnDisabled func(ctx context.Context, ep *Endpoint, reason string)
}

// Sender posts the outbox's sends to their endpoints: any node runs one.
type Sender struct {
	cfg  SenderConfig
	log  *slog.Logger
	wake chan struct{}

	mu       sync.Mutex
	inflight map[string]int // endpoint id → requests in flight here
	rnd      *rand.Rand
}

// NewSender returns a Sender.
func NewSender(cfg SenderConfig) *Sender {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	return &Sender{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), inflight: map[string]int{},
		rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// Wake tells the sender that events were appended.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends until ctx ends, then waits for the requests in flight.
func (s *Sender) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
		sends, err := s.claim(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("webhook: claim sends", "err", err)
		}
		for _, sd := range sends {
			wg.Go(func() {
				defer s.done(sd.Endpoint)
				s.send(ctx, sd)
			})
		}
		timer.Reset(s.cfg.Poll)
	}
}

// claim claims what the endpoints with room can take.
func (s *Sender) claim(ctx context.Context) ([]Send, error) {
	eps, err := s.cfg.Endpoints.List(ctx)
	if err != nil {
		return nil, err
	}
	room := map[string]int{}
	s.mu.Lock()
	for _, ep := range eps {
		if n := s.cfg.Concurrency - s.inflight[ep.ID]; !ep.Disabled && n > 0 {
			room[ep.ID] = n
		}
	}
	s.mu.Unlock()
	if len(room) == 0 {
		return nil, nil
	}
	sends, err := s.cfg.Store.Claim(ctx, s.cfg.Owner, s.cfg.Now(), s.cfg.LeaseFor, room)
	s.mu.Lock()
	for _, sd := range sends {
		s.inflight[sd.Endpoint]++
	}
	s.mu.Unlock()
	return sends, err
}

func (s *Sender) done(ep string) {
	s.mu.Lock()
	if s.inflight[ep]--; s.inflight[ep] <= 0 {
		delete(s.inflight, ep)
	}
	s.mu.Unlock()
	s.Wake() // room again
}

// send posts one claimed send and records what came of it.
func (s *Sender) send(ctx context.Context, sd Send) {
	ep, ok, err := s.cfg.Endpoints.Get(ctx, sd.Endpoint)
	if err != nil {
		s.finish(ctx, &sd, Outcome{Next: s.cfg.Now().Add(s.cfg.Poll)})
		return
	}
	if !ok {
		// Deleted (this node's list may be behind: the store drops the
		// sends of a deleted endpoint anyway).
		s.finish(ctx, &sd, Outcome{Done: true})
		return
	}
	now := s.cfg.Now()
	ts := now.Unix()
	h := http.Header{}
	h.Set(HeaderID, sd.Event.ID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign(ep.Secrets, now, sd.Event.ID, ts, sd.Event.Body))
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	start := time.Now()
	resp, err := s.cfg.Client.Post(rctx, ep.URL, h, sd.Event.Body)
	cancel()
	took := time.Since(start)
	if err == nil && resp.Status >= 200 && resp.Status < 300 {
		s.cfg.Metrics.Sent(sd.Event.Type)
		s.log.Debug("webhook sent", "webhook", ep.ID, "event", sd.Event.ID, "type", sd.Event.Type,
			"status", resp.Status, "duration", took)
		s.finish(ctx, &sd, Outcome{Done: true})
		if !ep.FailingSince.IsZero() {
			s.health(ctx, ep, Health{})
		}
		return
	}
	if ctx.Err() != nil {
		// Shutting down: not the endpoint's failure; due at once for
		// whichever node goes on.
		s.finish(ctx, &sd, Outcome{Next: now})
		return
	}
	why := describe(resp, err)
	s.cfg.Metrics.Failed(sd.Event.Type)
	s.log.Info("webhook failed", "webhook", ep.ID, "url", ep.URL, "event", sd.Event.ID, "type", sd.Event.Type,
		"attempt", sd.Attempts+1, "reply", why, "duration", took)
	if now.Sub(sd.Event.Time) >= s.cfg.RetryFor {
		s.cfg.Metrics.GaveUp()
		s.log.Warn("webhook given up", "webhook", ep.ID, "event", sd.Event.ID, "type", sd.Event.Type,
			"attempts", sd.Attempts+1, "reply", why)
		s.finish(ctx, &sd, Outcome{Done: true})
	} else {
		s.finish(ctx, &sd, Outcome{Next: now.Add(s.delay(sd.Attempts))})
	}
	switch {
	case ep.Disabled:
	case err == nil && resp.Status == http.StatusGone:
		// RFC 9110 §15.5.11: gone for good; the receiver asks us to stop.
		s.disable(ctx, ep, now, "410 Gone: "+why)
	case ep.FailingSince.IsZero():
		s.health(ctx, ep, Health{FailingSince: now})
	case now.Sub(ep.FailingSince) >= s.cfg.DisableAfter:
		s.disable(ctx, ep, now, fmt.Sprintf("failing since %s: %s", ep.FailingSince.UTC().Format(time.RFC3339), why))
	}
}

// describe says what an endpoint answered, or why it did not.
func describe(resp *Response, err error) string {
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return "no answer within the timeout"
		}
		return err.Error()
	}
	msg := fmt.Sprintf("%d %s", resp.Status, http.StatusText(resp.Status))
	if resp.Snippet != "" {
		msg += ": " + resp.Snippet
	}
	return msg
}

func (s *Sender) finish(ctx context.Context, sd *Send, o Outcome) {
	// The request happened: record it even at shutdown.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := s.cfg.Store.Finish(fctx, sd, o)
	if errors.Is(err, ErrLeaseLost) {
		s.log.Warn("webhook: claim lost before its outcome was recorded", "send", sd.ID)
	} else if err != nil {
		s.log.Error("webhook: record send", "send", sd.ID, "err", err)
	}
}

func (s *Sender) health(ctx context.Context, ep *Endpoint, h Health) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.cfg.Store.SetHealth(hctx, ep.ID, h); err != nil && !errors.Is(err, ErrNotFound) {
		s.log.Error("webhook: record endpoint health", "webhook", ep.ID, "err", err)
	}
	s.cfg.Endpoints.Invalidate()
}

// disable trips the breaker: the endpoint gets nothing until re-enabled
// through the API; its sends wait (up to webhook.retry_for).
func (s *Sender) disable(ctx context.Context, ep *Endpoint, now time.Time, reason string) {
	since := ep.FailingSince
	if since.IsZero() {
		since = now
	}
	s.health(ctx, ep, Health{FailingSince: since, Disabled: true, DisabledAt: now, Reason: reason})
	s.cfg.Metrics.Disabled()
	s.log.Warn("webhook endpoint disabled", "webhook", ep.ID, "url", ep.URL, "account", ep.Account, "reason", reason)
	if s.cfg.OnDisabled != nil {
		s.cfg.OnDisabled(ctx, ep, reason)
	}
}

// delay is the retry step after attempts earlier attempts, ±20% so that
// sends failing together do not come due together.
func (s *Sender) delay(attempts int) time.Duration {
	step := s.cfg.Retry[min(attempts, len(s.cfg.Retry)-1)]
	s.mu.Lock()
	j := s.rnd.Float64()*0.4 - 0.2
	s.mu.Unlock()
	return step + time.Duration(float64(step)*j)
}
