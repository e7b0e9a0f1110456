package pool

import (
	"context"
	"strings"
	"testing"
	"time"

	"sendpool/internal/dns"
	"sendpool/internal/sandbox"
	"sendpool/internal/state"
)

func TestCheckerSuspendsListedAndResumesAfterCooldown(t *testing.T) {
	srv, err := sandbox.NewDNSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.SetTTL(0) // nothing cached: each round sees the zone as it is
	srv.SetNegativeTTL(0)
	srv.SetA("1.0.0.127.zen.spamhaus.test", "127.0.0.2") // the zone exists
	const listed = "3.0.0.127.zen.spamhaus.test"
	srv.SetA(listed, "127.0.0.2")
	srv.SetTXT(listed, "Listed by ZEN")
	r, err := dns.New([]string{srv.Addr()}, dns.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr, _, clk, g := newTracker(t)
	ips := testIPs(1, 1)
	c := NewDNSBLWatch(DNSBLWatchConfig{Resolver: r, Zones: []string{"zen.spamhaus.test"}, IPs: ips, Tracker: tr,
		Interval: time.Minute, Cooldown: 10 * time.Minute, Now: clk.Now})
	ctx := context.Background()

	c.Check(ctx)
	if tr.Usable(ip3, "gmail") {
		t.Fatal("listed 127.0.0.3 is still usable")
	}
	if !tr.Usable(ip2, "gmail") {
		t.Fatal("127.0.0.2, not listed, was suspended")
	}
	s := tr.Suspensions()[ip3]
	if len(s) != 1 || s[0].Scope != state.ScopePool || s[0].Source != SourceDNSBL ||
		!strings.Contains(s[0].Reason, "zen.spamhaus.test") || !strings.Contains(s[0].Reason, "Listed by ZEN") {
		t.Fatalf("suspension %+v", s)
	}
	if on, _ := g.get("127.0.0.3", "pool"); !on {
		t.Error("gauge not set")
	}

	// Delisted: it stays out for the cool-down, counted from the first
	// round that saw it clear, then the checker lifts it.
	srv.Remove(listed)
	clk.Add(time.Minute)
	c.Check(ctx)
	clk.Add(9 * time.Minute)
	c.Check(ctx)
	if tr.Usable(ip3, "gmail") {
		t.Fatal("resumed before the cool-down passed")
	}
	clk.Add(time.Minute)
	c.Check(ctx)
	if !tr.Usable(ip3, "gmail") {
		t.Fatal("not resumed after the cool-down")
	}

	// Listed again during a cool-down: the clock starts over.
	srv.SetA(listed, "127.0.0.2")
	c.Check(ctx)
	srv.Remove(listed)
	clk.Add(time.Minute)
	c.Check(ctx) // clear since now
	srv.SetA(listed, "127.0.0.2")
	clk.Add(time.Minute)
	c.Check(ctx) // listed again
	srv.Remove(listed)
	clk.Add(time.Minute)
	c.Check(ctx) // clear since now
	clk.Add(9 * time.Minute)
	c.Check(ctx)
	if tr.Usable(ip3, "gmail") {
		t.Fatal("a relisting did not restart the cool-down")
	}
}

func TestCheckerLeavesOthersSuspensions(t *testing.T) {
	srv, err := sandbox.NewDNSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.SetTTL(0)
	srv.SetNegativeTTL(0)
	srv.SetA("1.0.0.127.zen.spamhaus.test", "127.0.0.2")
	r, _ := dns.New([]string{srv.Addr()}, dns.Options{})
	tr, _, clk, _ := newTracker(t)
	c := NewDNSBLWatch(DNSBLWatchConfig{Resolver: r, Zones: []string{"zen.spamhaus.test"}, IPs: testIPs(1, 1), Tracker: tr,
		Interval: time.Minute, Cooldown: time.Minute, Now: clk.Now})
	ctx := context.Background()
	tr.Block(ctx, "127.0.0.3", state.ScopePool, "554 blocked using b.barracudacentral.org")
	for range 5 {
		c.Check(ctx) // clear on the DNSBL
		clk.Add(time.Minute)
	}
	s := tr.Suspensions()[ip3]
	if len(s) != 1 || s[0].Source != SourceReceiver {
		t.Fatalf("the checker touched a receiver's suspension: %+v", s)
	}
}

func TestCheckerLookupFailureChangesNothing(t *testing.T) {
	srv, err := sandbox.NewDNSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.SetTTL(0)
	srv.SetNegativeTTL(0)
	const name = "3.0.0.127.zen.spamhaus.test"
	srv.SetA(name, "127.0.0.2")
	r, _ := dns.New([]string{srv.Addr()}, dns.Options{Timeout: time.Second})
	tr, _, clk, _ := newTracker(t)
	c := NewDNSBLWatch(DNSBLWatchConfig{Resolver: r, Zones: []string{"zen.spamhaus.test"}, IPs: testIPs(1, 1), Tracker: tr,
		Interval: time.Minute, Cooldown: time.Minute, Now: clk.Now})
	ctx := context.Background()
	c.Check(ctx)
	srv.SetServFail(name, true) // the list cannot be asked: not a delisting
	for range 3 {
		clk.Add(time.Minute)
		c.Check(ctx)
	}
	if tr.Usable(ip3, "gmail") {
		t.Fatal("a failing DNSBL lookup counted as clear")
	}
}
