package dnsrec

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"sendpool/internal/dns"
	"sendpool/internal/domain"
	"sendpool/internal/sandbox"
)

// checkEnv is a Checker asking a sandbox DNS server over loopback, with
// the pool's A and PTR records published as the sandbox world does.
type checkEnv struct {
	srv     *sandbox.DNSServer
	r       *dns.Client
	checker *Checker
}

func newCheckEnv(t *testing.T) *checkEnv {
	t.Helper()
	srv, err := sandbox.NewDNSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	r, err := dns.New([]string{srv.Addr()}, dns.Options{Cache: dns.NoCache{}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range testPool {
		srv.SetA(ip.EHLO, ip.Addr.String())
		srv.SetPTR(ip.Addr.String(), ip.EHLO)
	}
	return &checkEnv{srv: srv, r: r, checker: &Checker{Resolver: r, Config: testConfig()}}
}

// publish puts records in DNS (TXT records at one name together).
func (e *checkEnv) publish(rs []Record) {
	byName := map[string][]string{}
	for _, r := range rs {
		if r.Type == "TXT" {
			byName[r.Name] = append(byName[r.Name], r.Value)
		}
	}
	for name, vs := range byName {
		e.srv.SetTXT(name, vs...)
	}
}

func statuses(r *Report) string {
	return "spf=" + string(r.SPF.Status) + " dkim=" + string(r.DKIM.Status) + " dmarc=" + string(r.DMARC.Status)
}

// TestCheckMissingOkWrong: missing before publishing, ok after, wrong when
// the DKIM key, the SPF (one pool IP left out) or the DMARC record differ.
func TestCheckMissingOkWrong(t *testing.T) {
	e := newCheckEnv(t)
	ctx := t.Context()
	now := time.Now()
	d := testDomain(t, "shop.test", now)
	d.Keys = d.Keys[1:3] // the two active keys

	r := e.checker.Check(ctx, d, now)
	if got := statuses(r); got != "spf=missing dkim=missing dmarc=missing" || r.OK {
		t.Fatalf("before publishing: %s (ok=%v)", got, r.OK)
	}
	if len(r.DKIM.Selectors) != 2 || r.SPF.Expected[0] != "v=spf1 include:_spf.relay.sendpool.test ~all" {
		t.Fatalf("before publishing: %+v", r)
	}

	rs := e.checker.Config.Records(d, now)
	e.publish(rs)
	r = e.checker.Check(ctx, d, now)
	if got := statuses(r); got != "spf=ok dkim=ok dmarc=ok" || !r.OK {
		t.Fatalf("after publishing: %s (ok=%v): %+v", got, r.OK, r)
	}
	for _, ip := range r.Pool {
		if ip.Forward.Status != OK || ip.PTR.Status != OK {
			t.Fatalf("pool %s: forward %s, ptr %s", ip.Address, ip.Forward.Status, ip.PTR.Status)
		}
	}

	// The RSA selector publishing the Ed25519 key's value: wrong.
	rsaName := "sp202611r._domainkey.shop.test"
	e.srv.SetTXT(rsaName, "v=DKIM1; k=rsa; p="+d.Keys[1].PublicKey)
	r = e.checker.Check(ctx, d, now)
	if r.DKIM.Status != Wrong || r.DKIM.Selectors[0].Status != Wrong || r.DKIM.Selectors[1].Status != OK {
		t.Fatalf("with another key at %s: %+v", rsaName, r.DKIM)
	}
	if r.DKIM.Selectors[0].Found[0] != "v=DKIM1; k=rsa; p="+d.Keys[1].PublicKey {
		t.Fatalf("found %q", r.DKIM.Selectors[0].Found)
	}
	e.publish(rs)

	// The service record without the last pool IP: that IP soft-fails.
	e.srv.SetTXT("_spf.relay.sendpool.test", "v=spf1 ip4:127.0.0.2 ip4:127.0.0.3 ip4:127.0.0.4 -all")
	r = e.checker.Check(ctx, d, now)
	if r.SPF.Status != Wrong || !strings.Contains(r.SPF.Detail, "127.0.0.5 (softfail)") ||
		strings.Contains(r.SPF.Detail, "127.0.0.4") {
		t.Fatalf("SPF with a pool IP missing: %+v", r.SPF)
	}
	e.publish(rs)

	// Two SPF records at the domain: wrong, whatever they say.
	e.srv.SetTXT("shop.test", rs[0].Value, "v=spf1 ip4:127.0.0.0/8 ~all", "google-site-verification=x")
	if r = e.checker.Check(ctx, d, now); r.SPF.Status != Wrong || len(r.SPF.Found) != 2 {
		t.Fatalf("two SPF records: %+v", r.SPF)
	}
	// A different record that still authorises every IP is ok.
	e.srv.SetTXT("shop.test", "v=spf1 include:_spf.google.test include:_spf.relay.sendpool.test -all")
	e.srv.SetTXT("_spf.google.test", "v=spf1 ip4:192.0.2.0/24 -all")
	if r = e.checker.Check(ctx, d, now); r.SPF.Status != OK {
		t.Fatalf("a merged SPF record: %+v", r.SPF)
	}
	// Eleven includes: over the lookup limit.
	chain := "v=spf1"
	for i := range 10 {
		name := "l" + string(rune('a'+i)) + ".shop.test"
		e.srv.SetTXT(name, "v=spf1 -all")
		chain += " include:" + name
	}
	e.srv.SetTXT("shop.test", chain+" include:_spf.relay.sendpool.test -all")
	if r = e.checker.Check(ctx, d, now); r.SPF.Status != Wrong || !strings.Contains(r.SPF.Detail, "over 10 DNS lookups") {
		t.Fatalf("eleven includes: %+v", r.SPF)
	}
	e.publish(rs)

	e.srv.SetTXT("_dmarc.shop.test", "v=DMARC1; p=sometimes")
	if r = e.checker.Check(ctx, d, now); r.DMARC.Status != Wrong {
		t.Fatalf("a DMARC record that does not parse: %+v", r.DMARC)
	}
	e.srv.SetTXT("_dmarc.shop.test", "v=DMARC1; p=reject; adkim=s")
	if r = e.checker.Check(ctx, d, now); r.DMARC.Status != OK {
		t.Fatalf("a stricter valid DMARC record: %+v", r.DMARC)
	}
}

// TestCheckPendingKeyMissing: a rotated key not yet published makes DKIM
// missing even though the active keys are ok.
func TestCheckPendingKeyMissing(t *testing.T) {
	e := newCheckEnv(t)
	now := time.Now()
	d := testDomain(t, "shop.test", now)
	var published []Record
	for _, r := range e.checker.Config.Records(d, now) {
		if r.Purpose != PurposeDKIMPending {
			published = append(published, r)
		}
	}
	e.publish(published)
	r := e.checker.Check(t.Context(), d, now)
	if r.DKIM.Status != Missing || r.DKIM.Detail != "sp202612r missing, sp202612e missing" || len(r.DKIM.Selectors) != 4 {
		t.Fatalf("DKIM with pending keys unpublished: %+v", r.DKIM)
	}
	for _, s := range r.DKIM.Selectors {
		if (s.State == domain.Active) != (s.Status == OK) {
			t.Fatalf("selector %s (%s): %s", s.Selector, s.State, s.Status)
		}
	}
}

// TestCheckPool: an EHLO name resolving elsewhere is wrong, a missing PTR
// is missing.
func TestCheckPool(t *testing.T) {
	e := newCheckEnv(t)
	e.srv.SetA("mta2.sendpool.test", "127.0.0.9")
	e.srv.Remove(mustReverse(t, "127.0.0.4"))
	rs := e.checker.CheckPool(t.Context())
	if len(rs) != 4 {
		t.Fatalf("%d pool results", len(rs))
	}
	got := ""
	for _, r := range rs {
		got += r.Address + ":" + string(r.Forward.Status) + "/" + string(r.PTR.Status) + " "
	}
	if want := "127.0.0.2:ok/ok 127.0.0.3:wrong/ok 127.0.0.4:ok/missing 127.0.0.5:ok/ok "; got != want {
		t.Fatalf("pool: %s, want %s", got, want)
	}
}

func mustReverse(t *testing.T, addr string) string {
	t.Helper()
	a := netip.MustParseAddr(addr).As4()
	return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa", a[3], a[2], a[1], a[0])
}
