package api

import (
	"errors"
	"net/http"
	"time"

	"sendpool/internal/account"
)

// AccountRequest is the body of POST /api/v1/accounts. An account needs a
// password (for SMTP AUTH), trusted networks, or both.
type AccountRequest struct {
	Name     string         `json:"name"`
	Password string         `json:"password,omitempty"` // at least account.MinPasswordLen characters
	Domains  []string       `json:"domains,omitempty"`
	Networks []string       `json:"networks,omitempty"`
	Limits   account.Limits `json:"limits"`
	// ForeignFrom: domains not the account's own that its From: may name
	// (SPEC §3).
	ForeignFrom []string `json:"foreign_from,omitempty"`
	// InboundHost is where the MX sends mail for the account's domains
	// (host[:port]); Forwarding turns on SRS for foreign envelope senders
	// (SPEC §7).
	InboundHost string `json:"inbound_host,omitempty"`
	Forwarding  bool   `json:"forwarding,omitempty"`
}

// AccountPatch is the body of PATCH /api/v1/accounts/{name}: the fields
// present are changed, the others kept. A status back to active without a
// reason clears the reason.
type AccountPatch struct {
	Password    *string         `json:"password,omitempty"`
	Domains     *[]string       `json:"domains,omitempty"`
	Networks    *[]string       `json:"networks,omitempty"`
	ForeignFrom *[]string       `json:"foreign_from,omitempty"`
	InboundHost *string         `json:"inbound_host,omitempty"` // "" removes it
	Forwarding  *bool           `json:"forwarding,omitempty"`
	Limits      *LimitsPatch    `json:"limits,omitempty"`
	Status      *account.Status `json:"status,omitempty"` // "active" or "suspended"
	Reason      *string         `json:"reason,omitempty"`
}

// LimitsPatch changes some of an account's limits; 0 removes a limit.
type LimitsPatch struct {
	PerMinute     *int `json:"per_minute,omitempty"`
	PerHour       *int `json:"per_hour,omitempty"`
	PerDay        *int `json:"per_day,omitempty"`
	RcptPerMinute *int `json:"rcpt_per_minute,omitempty"`
	RcptPerHour   *int `json:"rcpt_per_hour,omitempty"`
	RcptPerDay    *int `json:"rcpt_per_day,omitempty"`
	SenderPerHour *int `json:"sender_per_hour,omitempty"`
	SenderPerDay  *int `json:"sender_per_day,omitempty"`
}

func (s *server) createAccount(w http.ResponseWriter, r *http.Request) {
	var req AccountRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	nets, err := account.ParseNetworks(req.Networks)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a := &account.Account{
		Name:        req.Name,
		Domains:     req.Domains,
		Networks:    nets,
		Limits:      req.Limits,
		ForeignFrom: req.ForeignFrom,
		InboundHost: req.InboundHost,
		Forwarding:  req.Forwarding,
		Status:      account.StatusActive,
		Created:     s.cfg.Now().UTC().Truncate(time.Millisecond), // what the stores keep
	}
	if err := a.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Password == "" && len(nets) == 0 {
		writeError(w, http.StatusBadRequest, "an account needs a password, networks, or both")
		return
	}
	if req.Password != "" {
		if err := account.ValidPassword(req.Password); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if a.PasswordHash, err = account.HashPassword(req.Password); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := s.cfg.Accounts.CreateAccount(r.Context(), a); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "api: account created", "account", a.Name)
	writeJSON(w, http.StatusCreated, present(a))
}

func (s *server) listAccounts(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Accounts.ListAccounts(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, a := range list {
		present(a)
	}
	writeJSON(w, http.StatusOK, nonNil(list))
}

func (s *server) getAccount(w http.ResponseWriter, r *http.Request) {
	a, err := s.cfg.Accounts.GetAccount(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, present(a))
}

func (s *server) patchAccount(w http.ResponseWriter, r *http.Request) {
	var p AccountPatch
	if err := decodeJSON(w, r, &p, false); err != nil {
		s.fail(w, r, err)
		return
	}
	a, err := s.cfg.Accounts.GetAccount(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	before := a.Status
	if err := applyPatch(a, &p); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.cfg.Accounts.UpdateAccount(r.Context(), a); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "api: account changed", "account", a.Name, "status", a.Status)
	s.statusChanged(r.Context(), a, before)
	writeJSON(w, http.StatusOK, present(a))
}

// applyPatch changes a as p says and validates the result.
func applyPatch(a *account.Account, p *AccountPatch) error {
	bad := func(err error) error { return Errorf(http.StatusBadRequest, "%v", err) }
	if p.Password != nil {
		if *p.Password == "" {
			// Dropping AUTH is done by giving networks, not by an empty password.
			return Errorf(http.StatusBadRequest, "password must not be empty")
		}
		if err := account.ValidPassword(*p.Password); err != nil {
			return bad(err)
		}
		h, err := account.HashPassword(*p.Password)
		if err != nil {
			return err
		}
		a.PasswordHash = h
	}
	if p.Domains != nil {
		a.Domains = *p.Domains
	}
	if p.ForeignFrom != nil {
		a.ForeignFrom = *p.ForeignFrom
	}
	if p.InboundHost != nil {
		a.InboundHost = *p.InboundHost
	}
	if p.Forwarding != nil {
		a.Forwarding = *p.Forwarding
	}
	if p.Networks != nil {
		nets, err := account.ParseNetworks(*p.Networks)
		if err != nil {
			return bad(err)
		}
		a.Networks = nets
	}
	if l := p.Limits; l != nil {
		if l.PerMinute != nil {
			a.Limits.PerMinute = *l.PerMinute
		}
		if l.PerHour != nil {
			a.Limits.PerHour = *l.PerHour
		}
		if l.PerDay != nil {
			a.Limits.PerDay = *l.PerDay
		}
		for _, f := range []struct {
			from *int
			to   *int
		}{{l.RcptPerMinute, &a.Limits.RcptPerMinute}, {l.RcptPerHour, &a.Limits.RcptPerHour},
			{l.RcptPerDay, &a.Limits.RcptPerDay}, {l.SenderPerHour, &a.Limits.SenderPerHour},
			{l.SenderPerDay, &a.Limits.SenderPerDay}} {
			if f.from != nil {
				*f.to = *f.from
			}
		}
	}
	if p.Status != nil {
		switch *p.Status {
		case account.StatusActive, account.StatusSuspended:
		default:
			// "held" is set by sendpool itself, never by hand; "active"
			// releases a held account (as POST …/release does).
			return Errorf(http.StatusBadRequest, "status %q: want active or suspended", *p.Status)
		}
		if *p.Status == account.StatusActive && p.Reason == nil {
			a.Reason = ""
		}
		a.Status = *p.Status
	}
	if p.Reason != nil {
		a.Reason = *p.Reason
	}
	if err := a.Validate(); err != nil {
		return bad(err)
	}
	if a.PasswordHash == "" && len(a.Networks) == 0 {
		return bad(errors.New("an account needs a password, networks, or both"))
	}
	return nil
}

func (s *server) deleteAccount(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	// Stores need not report deleting nothing: look first, for a clear 404.
	if _, err := s.cfg.Accounts.GetAccount(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.cfg.Accounts.DeleteAccount(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "api: account deleted", "account", name)
	w.WriteHeader(http.StatusNoContent)
}

// present readies an account for JSON: lists are [] rather than null. (The
// hash never leaves: Account.PasswordHash is tagged json:"-".)
func present(a *account.Account) *account.Account {
	a.Domains = nonNil(a.Domains)
	a.Networks = nonNil(a.Networks)
	return a
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
