package web

import (
	"context"
	"net/http"
	"sync"
	"time"

	"sendpool/internal/dnsrec"
	"sendpool/internal/domain"
)

// checkTimeout bounds the live DNS checks of one page view.
const checkTimeout = 15 * time.Second

// checkParallel is how many domains are checked at once.
const checkParallel = 8

// recordRow is one record to publish with its live status.
type recordRow struct {
	dnsrec.Record
	// Status is "ok", "missing", "wrong", or "" for records the checker
	// does not look at (sendpool's own SPF, retired keys, the return path).
	Status string
	Found  []string
	Detail string
}

type domainRow struct {
	Name    string
	Account string
	OK      bool
	Records []recordRow
}

type deliverabilityData struct {
	Off     bool
	Domains []domainRow
	Pool    []dnsrec.IPResult
	Checked time.Time
}

// deliverability is the Email Deliverability page: every domain, the
// records it must publish and what DNS holds now.
func (s *server) deliverability(w http.ResponseWriter, r *http.Request) {
	d := s.cfg.Domains
	if d == nil {
		s.render(w, r, http.StatusOK, "deliverability", "Email Deliverability", deliverabilityData{Off: true})
		return
	}
	ds, err := d.Store.ListDomains(r.Context(), "")
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "could not list the domains", err)
		return
	}
	now := s.cfg.Now()
	ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
	defer cancel()
	reports := make([]*dnsrec.Report, len(ds))
	var wg sync.WaitGroup
	sem := make(chan struct{}, checkParallel)
	for i, dom := range ds {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			reports[i] = d.Checker.Check(ctx, dom, now)
		})
	}
	wg.Wait()
	out := deliverabilityData{Checked: now, Domains: []domainRow{}}
	for i, dom := range ds {
		out.Domains = append(out.Domains, rows(dom, d.Records.Records(dom, now), reports[i]))
	}
	if len(reports) > 0 {
		out.Pool = reports[0].Pool // the same for every domain
	} else {
		out.Pool = d.Checker.CheckPool(ctx)
	}
	s.render(w, r, http.StatusOK, "deliverability", "Email Deliverability", out)
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
		}
		if res != nil {
			rr.Status, rr.Found, rr.Detail = string(res.Status), res.Found, res.Detail
		}
		row.Records = append(row.Records, rr)
	}
	return row
}
