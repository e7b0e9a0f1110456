package web

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/dnsrec"
	"sendpool/internal/domain"
)

// mine reports whether an object of account owner may be shown to r's
// session: the admin sees everything, a customer its own alone.
func mine(r *http.Request, owner string) bool {
	c := customerOf(r)
	return c == "" || c == owner
}

// zoneValue is a record's value as a zone file needs it.
func zoneValue(r dnsrec.Record) string {
	switch r.Type {
	case "TXT":
		return strings.Join(dnsrec.QuoteTXT(r.Value), " ")
	case "CNAME":
		return strings.TrimSuffix(r.Value, ".") + "."
	}
	return r.Value
}

// checkTimeout bounds the live DNS checks of one page view.
const checkTimeout = 15 * time.Second

// checkParallel is how many domains are checked at once.
const checkParallel = 8

// recordRow is one record to publish with its live status.
type recordRow struct {
	dnsrec.Record
	// Status is "ok", "missing", "wrong", or "" for records the checker
	// does not look at (sendpool's own SPF, retired keys, the return path when
	// no return_path_host is set).
	Status string
	Found  []string
	Detail string
}

type domainRow struct {
	Name    string
	Account string
	// Publisher names where sendpool publishes the domain's records, ""
	// where its owner does; PublishError is the last failure to.
	Publisher    string
	PublishError string
	OK           bool
	Records      []recordRow
	Checked      time.Time
	Age          int // seconds since Checked
}

type deliverabilityData struct {
	Domains []domainRow
	Pool    []dnsrec.IPResult
	CacheS  int // how long a check is kept, in seconds
	// Admin: the provider's view (every domain, the pool, the forms);
	// Accounts are the names the add-domain form offers.
	Admin    bool
	Accounts []string
	// Customer is the account of a customer's view, with its hold.
	Customer *account.Account
}

// deliverability is the Email Deliverability page: every domain, the
// records it must publish and what DNS held at its last check (kept for
// checkFor, see checkcache.go).
func (s *server) deliverability(w http.ResponseWriter, r *http.Request) {
	d := s.cfg.Domains
	acct := customerOf(r) // "" for the admin: every domain
	ds, err := d.Store.ListDomains(r.Context(), acct)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "could not list the domains", err)
		return
	}
	now := s.cfg.Now()
	ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
	defer cancel()
	reports := make([]*dnsrec.Report, len(ds))
	checked := make([]time.Time, len(ds))
	recs := make([][]dnsrec.Record, len(ds))
	var wg sync.WaitGroup
	sem := make(chan struct{}, checkParallel)
	for i, dom := range ds {
		recs[i] = d.Records.Records(dom, now)
		want := fingerprint(recs[i])
		if rep, at, ok := s.checks.get(dom.Name, want, now); ok {
			reports[i], checked[i] = rep, at
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			reports[i], checked[i] = s.check(ctx, dom, want, now), now
		})
	}
	wg.Wait()
	out := deliverabilityData{Domains: []domainRow{}, CacheS: int(checkFor / time.Second), Admin: acct == ""}
	for i, dom := range ds {
		if d.Publisher != nil {
			d.Publisher.Mark(dom, recs[i])
		}
		row := rows(dom, recs[i], reports[i])
		row.Checked, row.Age = checked[i], int(now.Sub(checked[i])/time.Second)
		if d.Publisher != nil {
			row.Publisher, row.PublishError = d.Publisher.PublisherFor(dom.Name), d.Publisher.LastError(dom.Name)
		}
		out.Domains = append(out.Domains, row)
	}
	if acct != "" {
		// The sending IPs are the provider's business, not the customer's.
		a, err := s.cfg.Accounts.GetAccount(r.Context(), acct)
		if err != nil {
			s.fail(w, r, http.StatusInternalServerError, "could not read the account", err)
			return
		}
		out.Customer = a
		s.render(w, r, http.StatusOK, "deliverability", "Email Deliverability", out)
		return
	}
	if len(reports) > 0 {
		out.Pool = reports[0].Pool // the same for every domain
	} else {
		out.Pool = s.checkPool(ctx, now)
	}
	if list, err := s.cfg.Accounts.ListAccounts(r.Context()); err == nil {
		for _, a := range list {
			out.Accounts = append(out.Accounts, a.Name)
		}
	}
	s.render(w, r, http.StatusOK, "deliverability", "Email Deliverability", out)
}

// check runs the DNS check of dom and keeps it, unless ctx ended first
// (a check cut short says "missing" where DNS was not asked).
func (s *server) check(ctx context.Context, dom *domain.Domain, want [sha256.Size]byte, now time.Time) *dnsrec.Report {
	rep := s.cfg.Domains.Checker.Check(ctx, dom, now)
	if ctx.Err() == nil {
		s.checks.put(dom.Name, want, rep, now)
	}
	return rep
}

// checkPool checks the pool alone, for a page without domains; it is kept
// under "", which no domain is named.
func (s *server) checkPool(ctx context.Context, now time.Time) []dnsrec.IPResult {
	var none [sha256.Size]byte
	if rep, _, ok := s.checks.get("", none, now); ok {
		return rep.Pool
	}
	pool := s.cfg.Domains.Checker.CheckPool(ctx)
	if ctx.Err() == nil {
		s.checks.put("", none, &dnsrec.Report{Pool: pool}, now)
	}
	return pool
}

// checkNow serves a domain's "check now" button: it checks the domain at
// once, whatever the cache holds, and goes back to the page.
func (s *server) checkNow(w http.ResponseWriter, r *http.Request) {
	d := s.cfg.Domains
	name, err := domain.Normalize(r.PathValue("name"))
	if err != nil {
		s.fail(w, r, http.StatusNotFound, "no such domain", nil)
		return
	}
	dom, err := d.Store.GetDomain(r.Context(), name)
	if errors.Is(err, domain.ErrNotFound) || err == nil && !mine(r, dom.Account) {
		s.fail(w, r, http.StatusNotFound, "no such domain: "+name, nil)
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "could not read the domain", err)
		return
	}
	now := s.cfg.Now()
	ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
	defer cancel()
	s.check(ctx, dom, fingerprint(d.Records.Records(dom, now)), now)
	s.log.InfoContext(r.Context(), "web: domain checked", "domain", name)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// rows pairs each record with the check's result for it.
func rows(d *domain.Domain, recs []dnsrec.Record, rep *dnsrec.Report) domainRow {
	row := domainRow{Name: d.Name, Account: d.Account, OK: rep.OK}
	for _, rec := range recs {
		rr := recordRow{Record: rec}
		var res *dnsrec.Result
		switch rec.Purpose {
		case dnsrec.PurposeSPF:
			res = &rep.SPF
		case dnsrec.PurposeDMARC:
			res = &rep.DMARC
		case dnsrec.PurposeDKIM, dnsrec.PurposeDKIMPending:
			for i := range rep.DKIM.Selectors {
				if rep.DKIM.Selectors[i].Name == rec.Name {
					res = &rep.DKIM.Selectors[i].Result
				}
			}
		case dnsrec.PurposeReturnPath:
			res = rep.ReturnPath // nil when not checked
		}
		if res != nil {
			rr.Status, rr.Found, rr.Detail = string(res.Status), res.Found, res.Detail
		}
		row.Records = append(row.Records, rr)
	}
	return row
}
