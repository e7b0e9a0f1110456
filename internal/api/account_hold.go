package api

import (
	"context"
	"net/http"

	"sendpool/internal/account"
	"sendpool/internal/events"
)

// EventLog is where the API reads recent events and records releases.
type EventLog interface {
	List(ctx context.Context, f events.Filter) ([]events.Event, error)
	Add(e events.Event)
}

// releaseAccount serves POST /api/v1/accounts/{name}/release, an extension
// of SPEC §5: a held (or suspended) account becomes active, its reason is
// cleared and its held mail is due at once. PATCH with "status":"active"
// does the same.
func (s *server) releaseAccount(w http.ResponseWriter, r *http.Request) {
	a, err := s.cfg.Accounts.GetAccount(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	before := a.Status
	a.Status, a.Reason = account.StatusActive, ""
	if err := s.cfg.Accounts.UpdateAccount(r.Context(), a); err != nil {
		s.fail(w, r, err)
		return
	}
	s.statusChanged(r.Context(), a, before)
	writeJSON(w, http.StatusOK, present(a))
}

// statusChanged follows an account's status with its queued mail: held
// when the account is suspended, released when it becomes active again.
// (An account held automatically has had its mail held already.)
func (s *server) statusChanged(ctx context.Context, a *account.Account, before account.Status) {
	if a.Status == before {
		return
	}
	switch a.Status {
	case account.StatusSuspended:
		n, err := s.cfg.Queue.HoldAccount(ctx, a.Name)
		if err != nil {
			// The delivery guard holds each delivery as it comes due.
			s.log.ErrorContext(ctx, "api: hold suspended account's mail", "account", a.Name, "err", err)
			return
		}
		s.log.InfoContext(ctx, "api: account suspended, mail held", "account", a.Name, "deliveries", n)
	case account.StatusActive:
		n, err := s.cfg.Queue.ReleaseAccount(ctx, a.Name)
		if err != nil {
			s.log.ErrorContext(ctx, "api: release account's mail", "account", a.Name, "err", err)
			return
		}
		s.log.InfoContext(ctx, "api: account released", "account", a.Name, "was", before, "deliveries", n)
		if s.cfg.Events != nil {
			s.cfg.Events.Add(events.Event{Time: s.cfg.Now(), Kind: events.KindReleased, Account: a.Name,
				Reason: "was " + string(before), Rcpts: n})
		}
	}
}

// listEvents serves GET /api/v1/events?account=&kind=&id=&limit=, an
// extension of SPEC §5: the node's recent intake decisions (with the scan
// rules that fired and the score) and account holds and releases, newest
// first.
func (s *server) listEvents(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Events == nil {
		writeJSON(w, http.StatusOK, []events.Event{})
		return
	}
	q := r.URL.Query()
	f := events.Filter{Account: q.Get("account"), Kind: q.Get("kind"), ID: q.Get("id")}
	var ok bool
	if f.Limit, ok = queryLimit(w, q, 0, 0, maxListLimit); !ok {
		return
	}
	list, err := s.cfg.Events.List(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}
