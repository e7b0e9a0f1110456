package pool

import (
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
	p := New(testIPs(1, 3), nil, seeded())
	n := map[string]int{}
	for range 4000 {
		ip, ok := p.Pick("gmail", nil)
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
	p := New(testIPs(0, 0), nil, seeded())
	n := map[string]int{}
	for range 1000 {
		ip, _ := p.Pick("gmail", nil)
		n[ip.String()]++
	}
	if n["127.0.0.2"] < 400 || n["127.0.0.3"] < 400 {
		t.Errorf("picks %v, want both about 500", n)
	}
}

func TestPickUntriedFirst(t *testing.T) {
	p := New(testIPs(1, 1, 1, 1), nil, seeded())
	tried := []string{"127.0.0.2", "127.0.0.4", "127.0.0.5"}
	for range 200 {
		ip, _ := p.Pick("gmail", tried)
		if ip.String() != "127.0.0.3" {
			t.Fatalf("picked %s, want the only untried 127.0.0.3", ip)
		}
	}
	// Two left: each is picked, never a tried one.
	seen := map[string]bool{}
	for range 200 {
		ip, _ := p.Pick("gmail", tried[:2])
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
	p := New(testIPs(1, 1, 1), nil, seeded())
	tried := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	seen := map[string]bool{}
	for range 300 {
		ip, ok := p.Pick("gmail", tried)
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
	one := New(testIPs(1), nil, seeded())
	if ip, ok := one.Pick("gmail", []string{"127.0.0.2"}); !ok || ip.String() != "127.0.0.2" {
		t.Errorf("pool of one picked %v, %v", ip, ok)
	}
}

func TestPickHonoursHealthPerDestination(t *testing.T) {
	h := setHealth{{"127.0.0.2", "*"}: time.Now().Add(time.Hour), {"127.0.0.3", "outlook"}: time.Now().Add(time.Hour)}
	p := New(testIPs(1, 1, 1), h, seeded())
	for range 200 {
		ip, _ := p.Pick("outlook", nil)
		if ip.String() != "127.0.0.4" {
			t.Fatalf("outlook got %s, want 127.0.0.4 (.2 out of the pool, .3 out for outlook)", ip)
		}
	}
	seen := map[string]bool{}
	for range 200 {
		ip, _ := p.Pick("gmail", nil)
		seen[ip.String()] = true
	}
	if seen["127.0.0.2"] || !seen["127.0.0.3"] || !seen["127.0.0.4"] {
		t.Errorf("gmail got %v, want .3 and .4, never .2", seen)
	}
	// A tried-but-usable IP beats none: untried ones that are suspended do
	// not count.
	if ip, ok := p.Pick("outlook", []string{"127.0.0.4"}); !ok || ip.String() != "127.0.0.4" {
		t.Errorf("outlook with .4 tried got %v, %v; want .4 again", ip, ok)
	}
}

func TestPickNoneUsable(t *testing.T) {
	until := time.Now().Add(time.Hour)
	h := setHealth{{"127.0.0.2", "*"}: until, {"127.0.0.3", "outlook"}: until.Add(time.Hour)}
	p := New(testIPs(1, 1), h, seeded())
	if _, ok := p.Pick("outlook", nil); ok {
		t.Fatal("picked an IP while every one is suspended for outlook")
	}
	if at := p.ReturnsAt("outlook"); !at.Equal(until) {
		t.Errorf("ReturnsAt(outlook) = %v, want the earliest end %v", at, until)
	}
	if at := p.ReturnsAt("gmail"); !at.IsZero() {
		t.Errorf("ReturnsAt(gmail) = %v, want zero: .3 is usable", at)
	}
}

func TestReuse(t *testing.T) {
	h := setHealth{{"127.0.0.3", "outlook"}: time.Now().Add(time.Hour)}
	p := New(testIPs(1, 1, 1), h, seeded())
	if ip, ok := p.Reuse("gmail", "127.0.0.3"); !ok || ip.String() != "127.0.0.3" {
		t.Errorf("Reuse(gmail, .3) = %v, %v", ip, ok)
	}
	if _, ok := p.Reuse("outlook", "127.0.0.3"); ok {
		t.Error("Reuse gave an IP suspended for the destination")
	}
	if _, ok := p.Reuse("gmail", "192.0.2.1"); ok {
		t.Error("Reuse gave an IP not in the pool")
	}
}
