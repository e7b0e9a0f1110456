package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"sendpool/internal/dkim"
	"sendpool/internal/dnsrec"
	"sendpool/internal/domain"
)

// Domains is what the domain routes need (Config.Domains).
type Domains struct {
	Store   domain.Store
	Keys    *dkim.Manager
	Records *dnsrec.Config
	Checker *dnsrec.Checker
	// Publisher publishes records in the zones sendpool may change
	// ([[dns.publish]], internal/dnspub); nil: the owners publish them all.
	Publisher Publisher
}

// Publisher is what the domain routes ask of internal/dnspub.
type Publisher interface {
	// Sync publishes what the domain needs now; Unpublish deletes what
	// sendpool published for it. Both do nothing outside the zones.
	Sync(ctx context.Context, name string) error
	Unpublish(ctx context.Context, name string) error
	// Mark sets each record's Published and Publisher.
	Mark(d *domain.Domain, recs []dnsrec.Record)
	// LastError is the last failure to publish the domain, "" if none.
	LastError(name string) string
	// PublisherFor names the zone's publisher, "" outside every zone.
	PublisherFor(name string) string
}

// publishWait bounds the publishing an API call waits for: a DNS server
// that does not answer delays the call this long at most, and the
// publisher's loop retries.
const publishWait = 5 * time.Second

// DomainRequest is the body of POST /api/v1/domains. The account must
// exist; the domain is added to its sending domains if it has not got it.
type DomainRequest struct {
	Domain  string `json:"domain"`
	Account string `json:"account"`
}

// DomainInfo is a domain as the API shows it: its keys without their
// private halves, and the records to publish.
type DomainInfo struct {
	Domain  string          `json:"domain"`
	Account string          `json:"account"`
	Created time.Time       `json:"created"`
	Keys    []KeyInfo       `json:"keys"`
	Records []dnsrec.Record `json:"records"`
	// Removable are the selectors whose records may now be deleted.
	Removable []string `json:"removable"`
	// PublishError is the last failure to publish the records (retried
	// in the background); absent when none.
	PublishError string `json:"publish_error,omitempty"`
}

// KeyInfo is one DKIM key, public half only.
type KeyInfo struct {
	Selector    string           `json:"selector"`
	Algorithm   domain.Algorithm `json:"algorithm"`
	State       domain.KeyState  `json:"state"`
	PublicKey   string           `json:"public_key"`
	Created     time.Time        `json:"created"`
	ActivatedAt *time.Time       `json:"activated_at,omitempty"`
	RetiredAt   *time.Time       `json:"retired_at,omitempty"`
	RemovableAt *time.Time       `json:"removable_at,omitempty"`
}

// domainRoutes registers the domain routes when Config.Domains is set.
func (s *server) domainRoutes(admin func(pattern string, h http.HandlerFunc)) {
	if s.cfg.Domains == nil {
		return
	}
	admin("POST /api/v1/domains", s.createDomain)
	admin("GET /api/v1/domains", s.listDomains)
	admin("GET /api/v1/domains/{domain}", s.getDomain)
	admin("DELETE /api/v1/domains/{domain}", s.deleteDomain)
	admin("POST /api/v1/domains/{domain}/rotate-dkim", s.rotateDKIM)
	admin("GET /api/v1/domains/{domain}/check", s.checkDomain)
}

func (s *server) domainInfo(d *domain.Domain) DomainInfo {
	now := s.cfg.Now()
	after := s.cfg.Domains.Keys.RetireAfter()
	info := DomainInfo{Domain: d.Name, Account: d.Account, Created: d.Created, Keys: []KeyInfo{},
		Records: s.cfg.Domains.Records.Records(d, now), Removable: []string{}}
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	if p := s.cfg.Domains.Publisher; p != nil {
		p.Mark(d, info.Records)
		info.PublishError = p.LastError(d.Name)
	}
	for _, k := range d.Keys {
		info.Keys = append(info.Keys, KeyInfo{
			Selector: k.Selector, Algorithm: k.Algorithm, State: k.State, PublicKey: k.PublicKey,
			Created: k.Created, ActivatedAt: opt(k.ActivatedAt), RetiredAt: opt(k.RetiredAt),
			RemovableAt: opt(k.RemovableAt(after)),
		})
		if k.Removable(now, after) {
			info.Removable = append(info.Removable, k.Selector)
		}
	}
	return info
}

// failDomain answers the domain errors, and the others as fail does.
func (s *server) failDomain(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, domain.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such domain")
	case errors.Is(err, domain.ErrExists):
		writeError(w, http.StatusConflict, "domain already exists")
	case errors.Is(err, domain.ErrConflict):
		writeError(w, http.StatusConflict, "domain changed concurrently; try again")
	case errors.Is(err, dkim.ErrRotationPending):
		writeError(w, http.StatusConflict, err.Error())
	default:
		s.fail(w, r, err)
	}
}

// pathDomain is the {domain} of the path, normalised.
func pathDomain(r *http.Request) (string, error) {
	name, err := domain.Normalize(r.PathValue("domain"))
	if err != nil {
		return "", Errorf(http.StatusBadRequest, "%v", err)
	}
	return name, nil
}

func (s *server) createDomain(w http.ResponseWriter, r *http.Request) {
	var req DomainRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	name, err := domain.Normalize(req.Domain)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	a, err := s.cfg.Accounts.GetAccount(ctx, req.Account)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// A domain another account sends from would be signed for one and not
	// the other: refuse rather than guess.
	others, err := s.cfg.Accounts.ListAccounts(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, o := range others {
		if o.Name != a.Name && o.OwnsDomain(name) {
			writeError(w, http.StatusConflict, "account "+o.Name+" sends from "+name)
			return
		}
	}
	d, err := s.cfg.Domains.Keys.Add(ctx, name, a.Name)
	if err != nil {
		s.failDomain(w, r, err)
		return
	}
	if !a.OwnsDomain(name) {
		a.Domains = append(slices.Clone(a.Domains), name)
		if err := s.cfg.Accounts.UpdateAccount(ctx, a); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.log.InfoContext(ctx, "api: domain added", "domain", name, "account", a.Name)
	writeJSON(w, http.StatusCreated, s.domainInfo(s.publish(ctx, d)))
}

func (s *server) listDomains(w http.ResponseWriter, r *http.Request) {
	ds, err := s.cfg.Domains.Store.ListDomains(r.Context(), r.URL.Query().Get("account"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []DomainInfo{}
	for _, d := range ds {
		out = append(out, s.domainInfo(d))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) getDomain(w http.ResponseWriter, r *http.Request) {
	name, err := pathDomain(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.cfg.Domains.Store.GetDomain(r.Context(), name)
	if err != nil {
		s.failDomain(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.domainInfo(d))
}

// deleteDomain forgets the domain and its keys: its mail is signed no more.
// The account keeps the domain among its sending domains.
func (s *server) deleteDomain(w http.ResponseWriter, r *http.Request) {
	name, err := pathDomain(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p := s.cfg.Domains.Publisher; p != nil {
		ctx, cancel := context.WithTimeout(r.Context(), publishWait)
		err := p.Unpublish(ctx, name)
		cancel()
		if err != nil && !errors.Is(err, domain.ErrNotFound) {
			// Kept, with its record of what was published: deleting it now
			// would leave those records in the zone for good.
			s.log.WarnContext(r.Context(), "api: domain records not removed", "domain", name, "err", err)
			writeError(w, http.StatusBadGateway, "the records sendpool published could not be deleted from DNS, so the domain is kept: "+
				err.Error()+"; try again")
			return
		}
	}
	if err := s.cfg.Domains.Store.DeleteDomain(r.Context(), name); err != nil {
		s.failDomain(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "api: domain deleted", "domain", name)
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) rotateDKIM(w http.ResponseWriter, r *http.Request) {
	name, err := pathDomain(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.cfg.Domains.Keys.Rotate(r.Context(), name)
	if err != nil {
		s.failDomain(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.domainInfo(s.publish(r.Context(), d)))
}

// checkDomain first activates pending keys whose records are now published
// (as the periodic check does), then checks every record.
func (s *server) checkDomain(w http.ResponseWriter, r *http.Request) {
	name, err := pathDomain(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.cfg.Domains.Keys.Activate(r.Context(), name)
	if err != nil {
		s.failDomain(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Domains.Checker.Check(r.Context(), d, s.cfg.Now()))
}

// publish publishes d's records where sendpool publishes them, waiting
// publishWait at most, and returns the domain as it then is (with what was
// published). A failure is kept for the answer's publish_error and retried
// by the publisher's loop.
func (s *server) publish(ctx context.Context, d *domain.Domain) *domain.Domain {
	p := s.cfg.Domains.Publisher
	if p == nil || p.PublisherFor(d.Name) == "" {
		return d
	}
	pctx, cancel := context.WithTimeout(ctx, publishWait)
	defer cancel()
	if err := p.Sync(pctx, d.Name); err != nil {
		s.log.WarnContext(ctx, "api: publishing records", "domain", d.Name, "err", err)
	}
	if now, err := s.cfg.Domains.Store.GetDomain(ctx, d.Name); err == nil {
		return now
	}
	return d
}
