package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"sendpool/internal/webhook"
)

// Webhooks is what the webhook routes and the feed do (SPEC §7 "Webhooks");
// *webhook.Service satisfies it.
type Webhooks interface {
	Create(ctx context.Context, url string, events []webhook.Type, account string) (*webhook.Endpoint, string, error)
	List(ctx context.Context) ([]*webhook.Endpoint, error)
	Get(ctx context.Context, id string) (*webhook.Endpoint, error)
	Delete(ctx context.Context, id string) error
	Rotate(ctx context.Context, id string) (*webhook.Endpoint, string, error)
	Enable(ctx context.Context, id string) (*webhook.Endpoint, error)
	Feed(ctx context.Context, after int64, account string, limit int) ([]webhook.Event, int64, error)
}

// WebhookRequest is the body of POST /api/v1/webhooks.
type WebhookRequest struct {
	URL string `json:"url"`
	// Events are the types wanted; none: all but deferred.
	Events []webhook.Type `json:"events,omitempty"`
	// Account limits the endpoint to one account's events; empty: global.
	Account string `json:"account,omitempty"`
}

// Webhook is an endpoint as the API shows it: never its secrets.
type Webhook struct {
	ID      string         `json:"id"`
	URL     string         `json:"url"`
	Events  []webhook.Type `json:"events"`
	Account string         `json:"account"`
	Created time.Time      `json:"created"`
	// Disabled by the breaker (failing for webhook.disable_after, or
	// 410 Gone), with the reason, until POST …/enable.
	Disabled     bool       `json:"disabled"`
	Reason       string     `json:"reason,omitempty"`
	DisabledAt   *time.Time `json:"disabled_at,omitempty"`
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// PreviousSecretExpires: after a rotation, until when the replaced
	// secret still signs.
	PreviousSecretExpires *time.Time `json:"previous_secret_expires,omitempty"`
}

// WebhookSecret is the answer of POST /api/v1/webhooks and …/rotate: the
// endpoint and its new secret, shown this once.
type WebhookSecret struct {
	Webhook
	Secret string `json:"secret"`
}

// FeedPage is the answer of GET /api/v1/feed: events in order, each as it
// is posted, and the cursor to ask after next.
type FeedPage struct {
	Events []json.RawMessage `json:"events"`
	Next   string            `json:"next"`
}

// WebhookFrom is e as the API shows it.
func WebhookFrom(e *webhook.Endpoint) Webhook {
	w := Webhook{ID: e.ID, URL: e.URL, Events: e.Events, Account: e.Account, Created: e.Created.UTC(),
		Disabled: e.Disabled, Reason: e.Reason, DisabledAt: utcPtr(e.DisabledAt), FailingSince: utcPtr(e.FailingSince)}
	for _, s := range e.Secrets {
		if !s.Expires.IsZero() {
			w.PreviousSecretExpires = utcPtr(s.Expires)
		}
	}
	return w
}

func utcPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// webhookRoutes registers the webhook routes when Config.Webhooks is set.
func (s *server) webhookRoutes(admin func(pattern string, h http.HandlerFunc)) {
	if s.cfg.Webhooks == nil {
		return
	}
	admin("POST /api/v1/webhooks", s.createWebhook)
	admin("GET /api/v1/webhooks", s.listWebhooks)
	admin("GET /api/v1/webhooks/{id}", s.getWebhook)
	admin("DELETE /api/v1/webhooks/{id}", s.deleteWebhook)
	admin("POST /api/v1/webhooks/{id}/rotate", s.rotateWebhook)
	admin("POST /api/v1/webhooks/{id}/enable", s.enableWebhook)
	admin("GET /api/v1/feed", s.feed)
}

// webhookFail answers the webhook errors, then the usual ones.
func (s *server) webhookFail(w http.ResponseWriter, r *http.Request, err error) {
	var inv *webhook.InvalidError
	switch {
	case errors.As(err, &inv):
		writeError(w, http.StatusBadRequest, inv.Msg)
	case errors.Is(err, webhook.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such webhook")
	default:
		s.fail(w, r, err)
	}
}

func (s *server) createWebhook(w http.ResponseWriter, r *http.Request) {
	var req WebhookRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.URL == "" {
		writeError(w, http.StatusBadRequest, "url: required")
		return
	}
	if req.Account != "" {
		if _, err := s.cfg.Accounts.GetAccount(r.Context(), req.Account); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	e, secret, err := s.cfg.Webhooks.Create(r.Context(), req.URL, req.Events, req.Account)
	if err != nil {
		s.webhookFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, WebhookSecret{Webhook: WebhookFrom(e), Secret: secret})
}

func (s *server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Webhooks.List(r.Context())
	if err != nil {
		s.webhookFail(w, r, err)
		return
	}
	out := []Webhook{}
	for _, e := range list {
		out = append(out, WebhookFrom(e))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) getWebhook(w http.ResponseWriter, r *http.Request) {
	e, err := s.cfg.Webhooks.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.webhookFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, WebhookFrom(e))
}

func (s *server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Webhooks.Delete(r.Context(), r.PathValue("id")); err != nil {
		s.webhookFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) rotateWebhook(w http.ResponseWriter, r *http.Request) {
	e, secret, err := s.cfg.Webhooks.Rotate(r.Context(), r.PathValue("id"))
	if err != nil {
		s.webhookFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, WebhookSecret{Webhook: WebhookFrom(e), Secret: secret})
}

func (s *server) enableWebhook(w http.ResponseWriter, r *http.Request) {
	e, err := s.cfg.Webhooks.Enable(r.Context(), r.PathValue("id"))
	if err != nil {
		s.webhookFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, WebhookFrom(e))
}

// feed serves GET /api/v1/feed?after=CURSOR&limit=N&account=NAME: the
// events after the cursor, oldest first (limit 1–1000, default 100).
func (s *server) feed(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "after: want a cursor from an earlier answer's \"next\"")
			return
		}
		after = n
	}
	limit, ok := queryLimit(w, q, 100, 1, webhook.MaxFeed)
	if !ok {
		return
	}
	evs, next, err := s.cfg.Webhooks.Feed(r.Context(), after, q.Get("account"), limit)
	if err != nil {
		s.webhookFail(w, r, err)
		return
	}
	page := FeedPage{Events: []json.RawMessage{}, Next: strconv.FormatInt(next, 10)}
	for _, ev := range evs {
		page.Events = append(page.Events, ev.Body)
	}
	writeJSON(w, http.StatusOK, page)
}
