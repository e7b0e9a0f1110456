package dns

import (
	"context"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"sendpool/internal/sandbox"
	"sendpool/internal/state"
	"sendpool/internal/state/memory"
	sredis "sendpool/internal/state/redis"
	"sendpool/internal/testclock"
	"sendpool/internal/testenv"
)

// TestSharedCacheAcrossNodes: two resolvers (two nodes) sharing a state:
// the second node's lookup of an MX is served by the first node's answer,
// without reaching the DNS server, until the record's TTL has passed.
func TestSharedCacheAcrossNodes(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			var a, b state.State
			if backend == "memory" {
				a = memory.New(nil)
				b = a
			} else {
				url := testenv.Redis(t)
				prefix := "sendpool-test:dns:" + time.Now().Format(time.RFC3339Nano) + ":"
				var err error
				if a, err = sredis.Open(context.Background(), url, sredis.Options{Prefix: prefix}); err != nil {
					t.Fatal(err)
				}
				if b, err = sredis.Open(context.Background(), url, sredis.Options{Prefix: prefix}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { a.Close(); b.Close() })
			}
			s := newServer(t)
			s.SetTTL(60)
			s.SetMX("shared.test", sandbox.MXRecord{Host: "mx.shared.test", Pref: 10})
			clk := testclock.New()
			nodeA := newClient(t, Options{Now: clk.Now, Cache: StateCache{State: a}}, s.Addr())
			nodeB := newClient(t, Options{Now: clk.Now, Cache: StateCache{State: b}}, s.Addr())
			lookup := func(c *Client) {
				t.Helper()
				if mxs, err := c.LookupMX(t.Context(), "shared.test"); err != nil || len(mxs) != 1 || mxs[0].Host != "mx.shared.test" {
					t.Fatalf("LookupMX: %v, %v", mxs, err)
				}
			}
			lookup(nodeA)
			lookup(nodeB)
			clk.Add(59 * time.Second)
			lookup(nodeB)
			if n := s.Queries("shared.test", mdns.TypeMX); n != 1 {
				t.Fatalf("DNS server asked %d times within the TTL, want 1", n)
			}
			// Past the TTL the answer is stale, whatever the state still
			// holds: the expiry travels inside the value.
			clk.Add(2 * time.Second)
			lookup(nodeB)
			if n := s.Queries("shared.test", mdns.TypeMX); n != 2 {
				t.Fatalf("DNS server asked %d times once the TTL passed, want 2", n)
			}
			lookup(nodeA)
			if n := s.Queries("shared.test", mdns.TypeMX); n != 2 {
				t.Fatalf("DNS server asked %d times, want node B's new answer to serve node A", n)
			}
		})
	}
}

// TestSharedCacheCappedByMaxTTL: a record's long TTL is cut to MaxTTL.
func TestSharedCacheCappedByMaxTTL(t *testing.T) {
	st := memory.New(nil)
	s := newServer(t)
	s.SetTTL(86400)
	s.SetMX("capped.test", sandbox.MXRecord{Host: "mx.capped.test", Pref: 10})
	clk := testclock.New()
	c := newClient(t, Options{Now: clk.Now, MaxTTL: time.Minute, Cache: StateCache{State: st}}, s.Addr())
	for range 2 {
		if _, err := c.LookupMX(t.Context(), "capped.test"); err != nil {
			t.Fatal(err)
		}
		clk.Add(61 * time.Second)
	}
	if n := s.Queries("capped.test", mdns.TypeMX); n != 2 {
		t.Fatalf("DNS server asked %d times over two MaxTTLs, want 2", n)
	}
}
