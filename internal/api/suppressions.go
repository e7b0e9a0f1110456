package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"sendpool/internal/suppression"
)

// Suppressions is what the suppression routes need (Config.Suppressions).
type Suppressions struct {
	// Store is the node's view of the lists, whose writes its intake sees
	// at once (internal/lookup).
	Store SuppressionList
	// OnAdded, if set, is called for each entry an admin adds (a metric).
	OnAdded func()
}

// SuppressionList is what the API reads and writes of the lists.
type SuppressionList interface {
	ListSuppressions(ctx context.Context, account string, limit int) ([]*suppression.Entry, error)
	PutSuppression(ctx context.Context, e *suppression.Entry) error
	DeleteSuppression(ctx context.Context, account, address string) error
}

// Suppression is one entry of an account's suppression list as the API
// shows it (SPEC §7).
type Suppression struct {
	Address string `json:"address"`
	Reason  string `json:"reason"`
	// Reply is the receiver's reply that suppressed the address; empty for
	// an entry an admin added.
	Reply string `json:"reply"`
	// MessageID is sendpool's id of the message that bounced.
	MessageID string    `json:"message_id,omitempty"`
	Created   time.Time `json:"created"`
	// Expires is null for an entry that never expires.
	Expires *time.Time `json:"expires"`
}

// SuppressionRequest is the body of POST /api/v1/accounts/{name}/suppressions.
type SuppressionRequest struct {
	Address string `json:"address"`
	Reason  string `json:"reason,omitempty"`
	// Duration is how long the entry lasts, a Go duration ("720h"); empty:
	// until removed.
	Duration string `json:"duration,omitempty"`
}

// SuppressionFrom is e as the API shows it.
func SuppressionFrom(e *suppression.Entry) Suppression {
	out := Suppression{Address: e.Address, Reason: e.Reason, Reply: e.Reply, MessageID: e.MessageID,
		Created: e.Created.UTC()}
	if !e.Expires.IsZero() {
		x := e.Expires.UTC()
		out.Expires = &x
	}
	return out
}

// suppressionRoutes registers the suppression routes when
// Config.Suppressions is set.
func (s *server) suppressionRoutes(admin func(pattern string, h http.HandlerFunc)) {
	if s.cfg.Suppressions == nil {
		return
	}
	admin("GET /api/v1/accounts/{name}/suppressions", s.listSuppressions)
	admin("POST /api/v1/accounts/{name}/suppressions", s.addSuppression)
	admin("DELETE /api/v1/accounts/{name}/suppressions/{address}", s.deleteSuppression)
}

// listSuppressions serves GET /api/v1/accounts/{name}/suppressions?limit=N:
// the account's active entries, newest first (all of them without limit).
func (s *server) listSuppressions(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := s.cfg.Accounts.GetAccount(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "limit: want a number, 0 or more (0: all)")
			return
		}
		limit = n
	}
	list, err := s.cfg.Suppressions.Store.ListSuppressions(r.Context(), name, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.cfg.Now()
	out := []Suppression{}
	for _, e := range list {
		if e.Active(now) {
			out = append(out, SuppressionFrom(e))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// addSuppression serves POST /api/v1/accounts/{name}/suppressions: an
// admin suppresses an address by hand (replacing any entry for it).
func (s *server) addSuppression(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req SuppressionRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	addr, err := suppression.Clean(req.Address)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var d time.Duration
	if req.Duration != "" {
		if d, err = time.ParseDuration(req.Duration); err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "duration: want a positive Go duration such as \"720h\"")
			return
		}
	}
	if _, err := s.cfg.Accounts.GetAccount(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.cfg.Now().UTC().Truncate(time.Millisecond) // what the stores keep
	e := &suppression.Entry{Account: name, Address: addr, Reason: req.Reason, Created: now}
	if e.Reason == "" {
		e.Reason = suppression.ReasonManual
	}
	if d > 0 {
		e.Expires = now.Add(d)
	}
	if err := s.cfg.Suppressions.Store.PutSuppression(r.Context(), e); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.cfg.Suppressions.OnAdded != nil {
		s.cfg.Suppressions.OnAdded()
	}
	s.log.InfoContext(r.Context(), "api: address suppressed", "account", name, "rcpt", addr, "reason", e.Reason, "for", d)
	writeJSON(w, http.StatusCreated, SuppressionFrom(e))
}

// deleteSuppression serves DELETE
// /api/v1/accounts/{name}/suppressions/{address}: the account's next
// message to the address is accepted (at once on this node, within
// server.lookup_cache_ttl on the others).
func (s *server) deleteSuppression(w http.ResponseWriter, r *http.Request) {
	name, addr := r.PathValue("name"), r.PathValue("address")
	if _, err := s.cfg.Accounts.GetAccount(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	err := s.cfg.Suppressions.Store.DeleteSuppression(r.Context(), name, addr)
	if errors.Is(err, suppression.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such suppression: "+addr)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "api: suppression removed", "account", name, "rcpt", addr)
	w.WriteHeader(http.StatusNoContent)
}
