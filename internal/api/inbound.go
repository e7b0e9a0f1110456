package api

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"

	"sendpool/internal/inbound"
	"sendpool/internal/recipient"
)

// Inbound is what the MX's routes need (Config.Inbound, SPEC §7).
type Inbound struct {
	// Decisions returns up to n recent decisions of every node, newest
	// first.
	Decisions func(ctx context.Context, n int) ([]inbound.Decision, error)
	Bans      *inbound.Bans
	// Recipients are the accounts' lists (inbound.recipients = "list").
	Recipients recipient.Store
}

// RecipientEntry is one address of an account's recipient list.
type RecipientEntry struct {
	Address string `json:"address"`
}

// inboundRoutes registers the MX's routes when Config.Inbound is set.
func (s *server) inboundRoutes(admin func(pattern string, h http.HandlerFunc)) {
	if s.cfg.Inbound == nil {
		return
	}
	admin("GET /api/v1/inbound/decisions", s.inboundDecisions)
	admin("GET /api/v1/inbound/bans", s.listBans)
	admin("GET /api/v1/inbound/bans/{ip}", s.getBan)
	admin("DELETE /api/v1/inbound/bans/{ip}", s.deleteBan)
	admin("GET /api/v1/accounts/{name}/recipients", s.listRecipients)
	admin("POST /api/v1/accounts/{name}/recipients", s.addRecipient)
	admin("DELETE /api/v1/accounts/{name}/recipients/{address}", s.deleteRecipient)
}

// inboundDecisions serves GET /api/v1/inbound/decisions?limit=N.
func (s *server) inboundDecisions(w http.ResponseWriter, r *http.Request) {
	n := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "limit: want a number")
			return
		}
	}
	ds, err := s.cfg.Inbound.Decisions(r.Context(), n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNilDecisions(ds))
}

func nonNilDecisions(ds []inbound.Decision) []inbound.Decision {
	if ds == nil {
		return []inbound.Decision{}
	}
	return ds
}

func (s *server) listBans(w http.ResponseWriter, r *http.Request) {
	bans, err := s.cfg.Inbound.Bans.List(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, bans)
}

func (s *server) getBan(w http.ResponseWriter, r *http.Request) {
	ip, err := netip.ParseAddr(r.PathValue("ip"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "not an IP address")
		return
	}
	b, err := s.cfg.Inbound.Bans.Get(r.Context(), ip.Unmap())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if b == nil {
		writeError(w, http.StatusNotFound, "no ban for "+ip.String())
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (s *server) deleteBan(w http.ResponseWriter, r *http.Request) {
	ip, err := netip.ParseAddr(r.PathValue("ip"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "not an IP address")
		return
	}
	ok, err := s.cfg.Inbound.Bans.Unban(r.Context(), ip.Unmap().String())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		writeError(w, http.StatusNotFound, "no ban for "+ip.String())
		return
	}
	s.log.InfoContext(r.Context(), "api: inbound ban lifted", "ip", ip.String())
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) listRecipients(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := s.cfg.Accounts.GetAccount(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	list, err := s.cfg.Inbound.Recipients.ListRecipients(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]RecipientEntry, len(list))
	for i, a := range list {
		out[i] = RecipientEntry{Address: a}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) addRecipient(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req RecipientEntry
	if err := decodeJSON(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	a, err := s.cfg.Accounts.GetAccount(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	at := len(req.Address) - 1
	for at >= 0 && req.Address[at] != '@' {
		at--
	}
	if at <= 0 || !a.OwnsDomain(req.Address[at+1:]) {
		writeError(w, http.StatusBadRequest, "address: want local@domain, a domain of account "+name)
		return
	}
	if err := s.cfg.Inbound.Recipients.AddRecipient(r.Context(), name, req.Address); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, RecipientEntry{Address: recipient.Key(req.Address)})
}

func (s *server) deleteRecipient(w http.ResponseWriter, r *http.Request) {
	err := s.cfg.Inbound.Recipients.RemoveRecipient(r.Context(), r.PathValue("name"), r.PathValue("address"))
	if errors.Is(err, recipient.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such recipient")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
