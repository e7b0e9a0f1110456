package webhook

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"sendpool/internal/dnsrec"
	"sendpool/internal/domain"
)

// DNSWatchConfig configures a DNSWatch.
type DNSWatchConfig struct {
	Domains interface {
		ListDomains(ctx context.Context, account string) ([]*domain.Domain, error)
	}
	// Check checks a domain's records (dnsrec.Checker.Check).
	Check   func(ctx context.Context, d *domain.Domain) *dnsrec.Report
	Emitter *Emitter
	// Interval is how often every domain is checked
	// (webhook.dns_check_interval).
	Interval time.Duration
	// Repeat: the same failure of the same domain is told once per Repeat,
	// by one node (Once).
	Repeat time.Duration
	Once   func(ctx context.Context, key string, within time.Duration) bool
	Logger *slog.Logger // nil: discard
}

// DNSWatch checks the sending domains' records now and then and writes a
// domain_dns_error event for one whose SPF, DKIM or DMARC record is
// missing or wrong (dnsrec.Report.OK false): a customer who edits its zone
// and breaks SPF hears of it before its mail starts bouncing.
type DNSWatch struct {
	cfg DNSWatchConfig
	log *slog.Logger
}

// NewDNSWatch returns a DNSWatch.
func NewDNSWatch(cfg DNSWatchConfig) *DNSWatch {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &DNSWatch{cfg: cfg, log: cfg.Logger}
}

// Run checks every Interval until ctx ends; the first round comes one
// Interval after the start (a node restarting often checks no more).
func (w *DNSWatch) Run(ctx context.Context) {
	tick := time.NewTicker(w.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		w.Round(ctx)
	}
}

// Round checks every domain once.
func (w *DNSWatch) Round(ctx context.Context) {
	ds, err := w.cfg.Domains.ListDomains(ctx, "")
	if err != nil {
		w.log.Error("webhook: list domains to check", "err", err)
		return
	}
	for _, d := range ds {
		if ctx.Err() != nil {
			return
		}
		r := w.cfg.Check(ctx, d)
		if r == nil || r.OK {
			continue
		}
		records := Failing(r)
		var sig []string
		for _, rec := range records {
			sig = append(sig, rec.Record+"="+rec.Status)
		}
		key := "webhook:dns:" + d.Name + ":" + strings.Join(sig, ",")
		if w.cfg.Once != nil && !w.cfg.Once(ctx, key, w.cfg.Repeat) {
			continue
		}
		w.log.Warn("domain DNS records not as they should be", "domain", d.Name, "account", d.Account, "records", sig)
		w.cfg.Emitter.DNSError(ctx, d.Account, d.Name, records)
	}
}

// Failing lists a report's records that are not ok (a missing return-path
// CNAME does not count: see dnsrec.Report.OK).
func Failing(r *dnsrec.Report) []DNSRecord {
	var out []DNSRecord
	add := func(name string, res dnsrec.Result) {
		if res.Status != dnsrec.OK {
			out = append(out, DNSRecord{Record: name, Status: string(res.Status), Found: nonNil(res.Found),
				Expected: nonNil(res.Expected)})
		}
	}
	add("spf", r.SPF)
	add("dkim", r.DKIM.Result)
	add("dmarc", r.DMARC)
	if r.ReturnPath != nil && r.ReturnPath.Status == dnsrec.Wrong {
		add("return_path", *r.ReturnPath)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
