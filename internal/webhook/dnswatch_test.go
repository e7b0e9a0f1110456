package webhook_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"sendpool/internal/dnsrec"
	"sendpool/internal/domain"
	"sendpool/internal/webhook"
)

type domainList []*domain.Domain

func (l domainList) ListDomains(context.Context, string) ([]*domain.Domain, error) { return l, nil }

// TestDNSWatch: a domain whose SPF record went wrong gets one
// domain_dns_error event naming the record, what was found and what is
// expected; the same failure again is not told again (Once), a healthy
// domain never.
func TestDNSWatch(t *testing.T) {
	rc := newReceiver(t)
	f := newFixture(t, nil)
	f.endpoint(rc.url(), "shop1")
	var mu sync.Mutex
	taken := map[string]bool{}
	once := func(_ context.Context, key string, _ time.Duration) bool {
		mu.Lock()
		defer mu.Unlock()
		if taken[key] {
			return false
		}
		taken[key] = true
		return true
	}
	ok := dnsrec.Result{Status: dnsrec.OK}
	w := webhook.NewDNSWatch(webhook.DNSWatchConfig{
		Domains: domainList{{Name: "shop1.test", Account: "shop1"}, {Name: "fine.test", Account: "shop1"}},
		Check: func(_ context.Context, d *domain.Domain) *dnsrec.Report {
			if d.Name == "fine.test" {
				return &dnsrec.Report{Domain: d.Name, OK: true, SPF: ok, DKIM: dnsrec.DKIMResult{Result: ok}, DMARC: ok}
			}
			return &dnsrec.Report{Domain: d.Name, SPF: dnsrec.Result{Status: dnsrec.Wrong,
				Found: []string{"v=spf1 -all"}, Expected: []string{"v=spf1 include:spf.relay.test -all"}},
				DKIM: dnsrec.DKIMResult{Result: ok}, DMARC: ok}
		},
		Emitter: f.em, Interval: time.Hour, Repeat: 24 * time.Hour, Once: once,
	})
	w.Round(context.Background())
	w.Round(context.Background())
	eventually(t, "the event", func() bool { return len(rc.delivered()) == 1 })
	time.Sleep(50 * time.Millisecond)
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	ev := reqs[0].Event
	if ev.Type != webhook.DomainDNSError || ev.Domain != "shop1.test" || ev.Account != "shop1" ||
		len(ev.Records) != 1 || ev.Records[0].Record != "spf" || ev.Records[0].Status != "wrong" ||
		ev.Records[0].Found[0] != "v=spf1 -all" {
		t.Errorf("event %+v", ev)
	}
}
