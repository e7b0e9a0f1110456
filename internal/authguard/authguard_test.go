package authguard

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/state/memory"
	"sendpool/internal/testclock"
)

type fakeAccounts map[string]*account.Account

func (f fakeAccounts) GetAccount(_ context.Context, name string) (*account.Account, error) {
	if a, ok := f[name]; ok {
		return a, nil
	}
	return nil, account.ErrNotFound
}

type fixture struct {
	g        *Guard
	clk      *testclock.Clock
	logs     *bytes.Buffer
	lockouts map[string]int
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{clk: testclock.New(), logs: &bytes.Buffer{}, lockouts: map[string]int{}}
	st := memory.New(f.clk.Now)
	t.Cleanup(func() { st.Close() })
	cfg := Config{
		State:              st,
		Accounts:           fakeAccounts{"shop1": {Name: "shop1", Networks: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/28")}}},
		MaxFailures:        3,
		MaxAccountFailures: 5,
		Window:             15 * time.Minute,
		Now:                f.clk.Now,
		Logger:             slog.New(slog.NewTextHandler(f.logs, nil)),
		OnLockout:          func(scope string) { f.lockouts[scope]++ },
	}
	if mod != nil {
		mod(&cfg)
	}
	f.g = New(cfg)
	return f
}

var ctx = context.Background()

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestIPLockoutAndWindow(t *testing.T) {
	f := newFixture(t, nil)
	ip := addr("198.51.100.7")
	t0 := f.clk.Now()
	for i := range 3 {
		if err := f.g.Check(ctx, ip, "shop1"); err != nil {
			t.Fatalf("attempt %d refused: %v", i+1, err)
		}
		f.clk.Add(time.Minute)
		f.g.Fail(ctx, ip, "shop1")
	}
	// Failures at t0+1m, +2m, +3m (the clock moved before each).
	err := f.g.Check(ctx, ip, "shop1")
	var r *Refused
	if !errors.As(err, &r) || r.Scope != ScopeIP {
		t.Fatalf("4th attempt: %v, want an IP refusal", err)
	}
	if want := t0.Add(16 * time.Minute); !r.Until.Equal(want) || r.Wait != 13*time.Minute {
		t.Errorf("refused until %v (wait %v), want %v (13m): the first failure ages out", r.Until, r.Wait, want)
	}
	if err := f.g.Check(ctx, addr("198.51.100.8"), "shop1"); err != nil {
		t.Errorf("another IP refused: %v", err)
	}
	// Refused attempts do not extend the lock.
	for range 5 {
		f.g.Check(ctx, ip, "shop1")
	}
	f.clk.Add(13 * time.Minute)
	if err := f.g.Check(ctx, ip, "shop1"); err != nil {
		t.Errorf("at t0+16m the oldest failure is out of the window, still refused: %v", err)
	}
	if f.lockouts[ScopeIP] != 1 || strings.Count(f.logs.String(), "auth lockout") != 1 {
		t.Errorf("lockouts %v, log:\n%s; want one IP lockout logged once", f.lockouts, f.logs)
	}
}

func TestFailAfterLockoutLogsOnce(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxAccountFailures = 0 })
	ip := addr("198.51.100.7")
	// Attempts that passed Check before the lock and fail after it.
	for range 10 {
		f.g.Fail(ctx, ip, "x")
	}
	if f.lockouts[ScopeIP] != 1 || strings.Count(f.logs.String(), "auth lockout") != 1 {
		t.Errorf("lockouts %v, want one", f.lockouts)
	}
}

func TestConcurrentFailuresOneLockout(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxFailures = 10; c.MaxAccountFailures = 0 })
	var mu sync.Mutex
	n := 0
	f.g.cfg.OnLockout = func(string) { mu.Lock(); n++; mu.Unlock() }
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() { f.g.Fail(ctx, addr("198.51.100.7"), "") })
	}
	wg.Wait()
	if n != 1 {
		t.Errorf("%d lockouts from 40 concurrent failures, want 1", n)
	}
}

func TestAccountLockoutSparesTrustedNetworks(t *testing.T) {
	f := newFixture(t, nil)
	// A botnet: each IP fails once, under the per-IP limit.
	for i := range 5 {
		f.g.Fail(ctx, netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}), "shop1")
	}
	var r *Refused
	if err := f.g.Check(ctx, addr("192.0.2.99"), "shop1"); !errors.As(err, &r) || r.Scope != ScopeAccount {
		t.Fatalf("outsider: %v, want an account refusal", err)
	}
	if err := f.g.Check(ctx, addr("203.0.113.5"), "shop1"); err != nil {
		t.Errorf("client in the account's networks refused: %v", err)
	}
	if err := f.g.Check(ctx, addr("192.0.2.99"), "other"); err != nil {
		t.Errorf("another account refused: %v", err)
	}
	if f.lockouts[ScopeAccount] != 1 {
		t.Errorf("lockouts %v, want one account lockout", f.lockouts)
	}
	// An unknown name locks too, for everyone (it has no networks).
	for i := range 5 {
		f.g.Fail(ctx, netip.AddrFrom4([4]byte{198, 51, 101, byte(i)}), "nobody")
	}
	if err := f.g.Check(ctx, addr("203.0.113.5"), "nobody"); !IsRefused(err) {
		t.Errorf("unknown name after 5 failures: %v, want refused", err)
	}
}

func TestExemptAndTokens(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Exempt = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	for range 10 {
		f.g.Fail(ctx, addr("10.1.2.3"), "shop1")
	}
	if err := f.g.Check(ctx, addr("10.1.2.3"), "shop1"); err != nil {
		t.Errorf("exempt client refused: %v", err)
	}
	if err := f.g.Check(ctx, addr("192.0.2.1"), "shop1"); err != nil {
		t.Errorf("exempt failures counted for the account: %v", err)
	}
	// A token (no account name) counts per IP only.
	for range 3 {
		f.g.Fail(ctx, addr("192.0.2.1"), "")
	}
	if err := f.g.Check(ctx, addr("192.0.2.1"), ""); !IsRefused(err) {
		t.Errorf("token guesser: %v, want refused", err)
	}
	var nilGuard *Guard
	nilGuard.Fail(ctx, addr("192.0.2.1"), "")
	if err := nilGuard.Check(ctx, addr("192.0.2.1"), ""); err != nil {
		t.Errorf("nil guard refused: %v", err)
	}
}

func TestIPv6ByPrefix(t *testing.T) {
	f := newFixture(t, nil)
	for i := range 3 {
		f.g.Fail(ctx, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}), "")
	}
	if err := f.g.Check(ctx, addr("2001:db8::ffff:1"), ""); !IsRefused(err) {
		t.Errorf("same /64: %v, want refused", err)
	}
	if err := f.g.Check(ctx, addr("2001:db8:0:1::1"), ""); err != nil {
		t.Errorf("another /64 refused: %v", err)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", 90 * time.Second: "90", 90500 * time.Millisecond: "91"} {
		if got := RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %s, want %s", d, got, want)
		}
	}
}
