package pool

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func testIPs(weights ...int) []IP {
	var ips []IP
	for i, w := range weights {
		ips = append(ips, IP{Addr: netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)}), EHLO: "mta.test", Weight: w})
	}
	return ips
}

func seeded() *rand.Rand { return rand.New(rand.NewPCG(7, 11)) }

// newTestPool is a pool of ips under health (nil: all usable).
func newTestPool(ips []IP, health Health) *Pool {
	return New(Config{IPs: ips, Health: health, Rand: seeded()})
}

// pick is Choose for one message to dest, after tried.
func pick(p *Pool, dest string, tried []string) (IP, bool) {
	c := p.Choose(context.Background(), Request{Destination: dest, Tried: tried, Rcpts: 1})
	return c.IP, c.OK
}

// setHealth is a Health with a fixed set of unusable (ip, destination)
// pairs; destination "*" is every destination.
type setHealth map[[2]string]time.Time

func (h setHealth) UsableAt(ip netip.Addr, dest string) time.Time {
	if t, ok := h[[2]string{ip.String(), "*"}]; ok {
		return t
	}
	return h[[2]string{ip.String(), dest}]
}

func (h setHealth) Usable(ip netip.Addr, dest string) bool { return h.UsableAt(ip, dest).IsZero() }

func TestPickWeighted(t *testing.T) {
	p := newTestPool(testIPs(1, 3), nil)
	n := map[string]int{}
	for range 4000 {
		ip, ok := pick(p, "gmail", nil)
		if !ok {
			t.Fatal("no IP picked")
		}
		n[ip.String()]++
	}
	// Weight 3 against 1: about 3000 to 1000. The seed is fixed, so this is
	// not flaky; the bounds are wide enough for any fair source.
	if n["127.0.0.3"] < 2700 || n["127.0.0.3"] > 3300 {
		t.Errorf("picks %v, want about 1000 and 3000", n)
	}
}

func TestPickZeroWeightCountsAsOne(t *testing.T) {
	p := newTestPool(testIPs(0, 0), nil)
	n := map[string]int{}
	for range 1000 {
		ip, _ := pick(p, "gmail", nil)
		n[ip.String()]++
	}
	if n["127.0.0.2"] < 400 || n["127.0.0.3"] < 400 {
		t.Errorf("picks %v, want both about 500", n)
	}
}

func TestPickUntriedFirst(t *testing.T) {
	p := newTestPool(testIPs(1, 1, 1, 1), nil)
	tried := []string{"127.0.0.2", "127.0.0.4", "127.0.0.5"}
	for range 200 {
		ip, _ := pick(p, "gmail", tried)
		if ip.String() != "127.0.0.3" {
			t.Fatalf("picked %s, want the only untried 127.0.0.3", ip)
		}
	}
	// Two left: each is picked, never a tried one.
	seen := map[string]bool{}
	for range 200 {
		ip, _ := pick(p, "gmail", tried[:2])
		if slices.Contains(tried[:2], ip.String()) {
			t.Fatalf("picked tried %s", ip)
		}
		seen[ip.String()] = true
	}
	if len(seen) != 2 {
		t.Errorf("picked %v, want both untried IPs", seen)
	}
}

func TestPickCyclesWhenAllTried(t *testing.T) {
	p := newTestPool(testIPs(1, 1, 1), nil)
	tried := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	seen := map[string]bool{}
	for range 300 {
		ip, ok := pick(p, "gmail", tried)
		if !ok {
			t.Fatal("no IP picked")
		}
		if ip.String() == "127.0.0.4" {
			t.Fatal("picked the IP tried last: consecutive attempts must differ")
		}
		seen[ip.String()] = true
	}
	if len(seen) != 2 {
		t.Errorf("picked %v, want 127.0.0.2 and 127.0.0.3", seen)
	}
	// A pool of one keeps using it.
	one := newTestPool(testIPs(1), nil)
	if ip, ok := pick(one, "gmail", []string{"127.0.0.2"}); !ok || ip.String() != "127.0.0.2" {
		t.Errorf("pool of one picked %v, %v", ip, ok)
	}
}

func TestPickHonoursHealthPerDestination(t *testing.T) {
	h := setHealth{{"127.0.0.2", "*"}: time.Now().Add(time.Hour), {"127.0.0.3", "outlook"}: time.Now().Add(time.Hour)}
	p := newTestPool(testIPs(1, 1, 1), h)
	for range 200 {
		ip, _ := pick(p, "outlook", nil)
		if ip.String() != "127.0.0.4" {
			t.Fatalf("outlook got %s, want 127.0.0.4 (.2 out of the pool, .3 out for outlook)", ip)
		}
	}
	seen := map[string]bool{}
	for range 200 {
		ip, _ := pick(p, "gmail", nil)
		seen[ip.String()] = true
	}
	if seen["127.0.0.2"] || !seen["127.0.0.3"] || !seen["127.0.0.4"] {
		t.Errorf("gmail got %v, want .3 and .4, never .2", seen)
	}
	// A tried-but-usable IP beats none: untried ones that are suspended do
	// not count.
	if ip, ok := pick(p, "outlook", []string{"127.0.0.4"}); !ok || ip.String() != "127.0.0.4" {
		t.Errorf("outlook with .4 tried got %v, %v; want .4 again", ip, ok)
	}
}

func TestPickNoneUsable(t *testing.T) {
	until := time.Now().Add(time.Hour)
	h := setHealth{{"127.0.0.2", "*"}: until, {"127.0.0.3", "outlook"}: until.Add(time.Hour)}
	p := newTestPool(testIPs(1, 1), h)
	c := p.Choose(context.Background(), Request{Destination: "outlook", Rcpts: 1})
	if c.OK {
		t.Fatal("picked an IP while every one is suspended for outlook")
	}
	if !c.Until.Equal(until) {
		t.Errorf("Choose(outlook).Until = %v, want the earliest end %v", c.Until, until)
	}
}

// TestChooseOnlyAndPrefer: Only is the open connection's IP, never
// another; Prefer (greylisting's) is kept when it may send, else another
// is chosen.
func TestChooseOnlyAndPrefer(t *testing.T) {
	h := setHealth{{"127.0.0.3", "outlook"}: time.Now().Add(time.Hour)}
	p := newTestPool(testIPs(1, 1, 1), h)
	ctx := context.Background()
	if c := p.Choose(ctx, Request{Destination: "gmail", Only: "127.0.0.3"}); !c.OK || c.IP.String() != "127.0.0.3" {
		t.Errorf("Only .3 for gmail = %+v", c)
	}
	if c := p.Choose(ctx, Request{Destination: "outlook", Only: "127.0.0.3"}); c.OK {
		t.Error("Only gave an IP suspended for the destination")
	}
	if c := p.Choose(ctx, Request{Destination: "gmail", Only: "192.0.2.1"}); c.OK {
		t.Error("Only gave an IP not in the pool")
	}
	for range 50 {
		if c := p.Choose(ctx, Request{Destination: "gmail", Prefer: "127.0.0.3", Tried: []string{"127.0.0.3"}}); c.IP.String() != "127.0.0.3" {
			t.Fatalf("Prefer .3 (tried) for gmail = %+v, want .3 kept", c)
		}
		if c := p.Choose(ctx, Request{Destination: "outlook", Prefer: "127.0.0.3"}); !c.OK || c.IP.String() == "127.0.0.3" {
			t.Fatalf("Prefer .3 for outlook = %+v, want another", c)
		}
	}
}
