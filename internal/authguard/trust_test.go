package authguard

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sendpool/internal/state"
	"sendpool/internal/state/memory"
)

// botnet fails n times for user, each from its own IP in 198.51.100.0/24.
func botnet(f *fixture, user string, n int) {
	for i := range n {
		f.g.Fail(ctx, netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}), user)
	}
}

// TestTrustedIPSparedAccountLock: an IP that logged in to the account
// within TrustedFor gets in although the account is locked; a new IP does
// not; the per-IP limit still applies to the trusted IP.
func TestTrustedIPSparedAccountLock(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.TrustedFor = 720 * time.Hour })
	home := addr("192.0.2.10")
	f.g.Succeed(ctx, home, "shop")
	f.clk.Add(719 * time.Hour)
	botnet(f, "shop", 5)
	if err := f.g.Check(ctx, home, "shop"); err != nil {
		t.Fatalf("IP that logged in 719h ago: %v, want allowed", err)
	}
	var r *Refused
	if err := f.g.Check(ctx, addr("192.0.2.11"), "shop"); !errors.As(err, &r) || r.Scope != ScopeAccount {
		t.Fatalf("new IP: %v, want an account refusal", err)
	}
	// Trust is per account: the same IP is a stranger to another one.
	botnet(f, "other", 5)
	if err := f.g.Check(ctx, home, "other"); !IsRefused(err) {
		t.Errorf("trusted IP of shop for account other: %v, want refused", err)
	}
	// Its own failures still count against it.
	for range 3 {
		f.g.Fail(ctx, home, "shop")
	}
	if err := f.g.Check(ctx, home, "shop"); !errors.As(err, &r) || r.Scope != ScopeIP {
		t.Errorf("trusted IP after 3 failures of its own: %v, want an IP refusal", err)
	}
}

func TestTrustExpires(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.TrustedFor = 720 * time.Hour })
	home := addr("192.0.2.10")
	f.g.Succeed(ctx, home, "shop")
	f.clk.Add(720 * time.Hour)
	botnet(f, "shop", 5)
	if err := f.g.Check(ctx, home, "shop"); !IsRefused(err) {
		t.Errorf("IP that logged in 720h ago: %v, want refused", err)
	}
}

// TestTrustOff: with TrustedFor 0 a login earns nothing (today's rule:
// networks only).
func TestTrustOff(t *testing.T) {
	f := newFixture(t, nil)
	f.g.Succeed(ctx, addr("192.0.2.10"), "shop")
	botnet(f, "shop", 5)
	if err := f.g.Check(ctx, addr("192.0.2.10"), "shop"); !IsRefused(err) {
		t.Errorf("trust off: %v, want refused", err)
	}
}

// TestTrustIPv6ByPrefix: an IPv6 client is trusted by its /64, as it is
// counted.
func TestTrustIPv6ByPrefix(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.TrustedFor = time.Hour })
	f.g.Succeed(ctx, addr("2001:db8:1:2::1"), "shop")
	botnet(f, "shop", 5)
	if err := f.g.Check(ctx, addr("2001:db8:1:2::ffff"), "shop"); err != nil {
		t.Errorf("same /64: %v, want allowed", err)
	}
	if err := f.g.Check(ctx, addr("2001:db8:1:3::1"), "shop"); !IsRefused(err) {
		t.Errorf("another /64: %v, want refused", err)
	}
}

// TestTrustBounded: an account remembers its most recent
// trustedPerAccount IPs; logging in from more pushes out the least
// recently seen, and one busy IP takes one place however often it logs in.
func TestTrustBounded(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.TrustedFor = 720 * time.Hour })
	ip := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}) }
	busy := addr("192.0.2.10")
	for i := range trustedPerAccount + 10 {
		f.clk.Add(time.Second)
		f.g.Succeed(ctx, ip(i), "shop")
		f.g.Succeed(ctx, busy, "shop")
	}
	botnet(f, "shop", 5)
	for i, want := range map[int]bool{0: false, 10: false, 11: true, trustedPerAccount + 9: true} {
		if err := f.g.Check(ctx, ip(i), "shop"); (err == nil) != want {
			t.Errorf("IP #%d: %v, want trusted %v", i, err, want)
		}
	}
	if err := f.g.Check(ctx, busy, "shop"); err != nil {
		t.Errorf("busy IP: %v, want trusted", err)
	}
}

// flakyState is a state.State that fails while down is set.
type flakyState struct {
	state.State
	down atomic.Bool
}

var errDown = errors.New("state down")

func (s *flakyState) Take(ctx context.Context, key string, n int, now time.Time, ws []state.Window) (state.Decision, error) {
	if s.down.Load() {
		return state.Decision{}, errDown
	}
	return s.State.Take(ctx, key, n, now, ws)
}

func (s *flakyState) Seen(ctx context.Context, key, member string, at time.Time, keep int, ttl time.Duration) error {
	if s.down.Load() {
		return errDown
	}
	return s.State.Seen(ctx, key, member, at, keep, ttl)
}

func (s *flakyState) LastSeen(ctx context.Context, key, member string) (time.Time, bool, error) {
	if s.down.Load() {
		return time.Time{}, false, errDown
	}
	return s.State.LastSeen(ctx, key, member)
}

// TestFailsClosedToLocal: with the shared state failing, failures count on
// the node and the 11th attempt is refused; the outage is logged once, its
// end once; logins during it are trusted on the node; once the state is
// back its counts apply again.
func TestFailsClosedToLocal(t *testing.T) {
	fs := &flakyState{State: memory.New(nil)}
	f := newFixture(t, func(c *Config) {
		c.State, c.MaxFailures, c.MaxAccountFailures, c.TrustedFor = fs, 10, 50, time.Hour
	})
	fs.down.Store(true)
	ip := addr("198.51.100.7")
	for i := range 10 {
		if err := f.g.Check(ctx, ip, "shop"); err != nil {
			t.Fatalf("attempt %d refused: %v", i+1, err)
		}
		f.g.Fail(ctx, ip, "shop")
	}
	var r *Refused
	if err := f.g.Check(ctx, ip, "shop"); !errors.As(err, &r) || r.Scope != ScopeIP {
		t.Fatalf("11th attempt with the state down: %v, want an IP refusal", err)
	}
	if f.lockouts[ScopeIP] != 1 {
		t.Errorf("lockouts %v, want the IP lockout counted on the node", f.lockouts)
	}
	home := addr("192.0.2.10")
	f.g.Succeed(ctx, home, "shop")
	botnet(f, "shop", 40) // 50 for shop in all
	if err := f.g.Check(ctx, addr("192.0.2.99"), "shop"); !errors.As(err, &r) || r.Scope != ScopeAccount {
		t.Errorf("new IP, account locked on the node: %v, want an account refusal", err)
	}
	if err := f.g.Check(ctx, home, "shop"); err != nil {
		t.Errorf("IP that logged in during the outage: %v, want allowed", err)
	}
	if n := strings.Count(f.logs.String(), "shared state unavailable"); n != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", n, f.logs)
	}

	// Back: the shared state (which saw none of it) is asked again, and
	// what the node counted meanwhile still holds.
	fs.down.Store(false)
	f.g.retry.Store(0) // skip the wait before the next try
	if err := f.g.Check(ctx, addr("198.51.100.200"), ""); err != nil {
		t.Errorf("another IP once the state is back: %v", err)
	}
	if err := f.g.Check(ctx, ip, ""); !IsRefused(err) {
		t.Errorf("the guesser once the state is back: %v, want still refused", err)
	}
	if n := strings.Count(f.logs.String(), "shared state back"); n != 1 {
		t.Errorf("end of outage logged %d times, want once:\n%s", n, f.logs)
	}
	for i := range 10 {
		f.g.Fail(ctx, addr("198.51.100.201"), "")
		if d, _ := fs.State.Take(ctx, ipKey(addr("198.51.100.201")), 0, f.clk.Now(), []state.Window{{Size: time.Hour, Max: i}}); d.Allowed {
			t.Fatalf("failure %d not in the shared state", i+1)
		}
	}
}
