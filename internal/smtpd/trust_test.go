package smtpd

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/authguard"
	"sendpool/internal/state"
	"sendpool/internal/state/memory"
	"sendpool/internal/state/redis"
	"sendpool/internal/testclock"
	"sendpool/internal/testenv"
)

// shopAccount is "shop" (password "shop-secret", domain shop.test), with
// no networks, as most accounts.
func shopAccount(t *testing.T) *account.Account {
	t.Helper()
	hash, err := account.HashPassword("shop-secret")
	if err != nil {
		t.Fatal(err)
	}
	return &account.Account{Name: "shop", PasswordHash: hash, Domains: []string{"shop.test"}, Status: account.StatusActive}
}

// trustEnv is a server whose guard (the defaults of [auth]: 10 per IP, 50
// per account in 15 minutes, trusted_for 720h) runs on the test clock,
// over st (memory when nil).
func trustEnv(t *testing.T, st state.State, clk *testclock.Clock, mod func(*Config), extra ...*account.Account) (*env, *syncBuffer) {
	t.Helper()
	if st == nil {
		st = memory.New(clk.Now)
		t.Cleanup(func() { st.Close() })
	}
	ref := &accountsRef{}
	logs := &syncBuffer{}
	g := authguard.New(authguard.Config{State: st, Accounts: ref, MaxFailures: 10, MaxAccountFailures: 50,
		Window: 15 * time.Minute, TrustedFor: 720 * time.Hour, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	e := newEnv(t, func(c *Config) {
		c.Guard = g
		if mod != nil {
			mod(c)
		}
	}, extra...)
	ref.st = e.store
	return e, logs
}

// TestAuthTrustedIPSparedLockout: 50 wrong passwords for shop from five
// IPs lock the account; the right password then gets in from an IP that
// logged in to shop within trusted_for, and is refused (454 4.7.0) from a
// new IP and from one that only ever failed.
func TestAuthTrustedIPSparedLockout(t *testing.T) {
	clk := testclock.New()
	e, _ := trustEnv(t, nil, clk, nil, shopAccount(t))
	dialFrom(t, e.addr, "127.0.0.30").must("AUTH PLAIN "+plain("shop", "shop-secret"), 235, "2.0.0")
	dialFrom(t, e.addr, "127.0.0.31").must("AUTH PLAIN "+plain("shop", "not-it"), 535, "5.7.8")

	clk.Add(700 * time.Hour) // within trusted_for
	for i := range 5 {
		c := dialFrom(t, e.addr, netip.AddrFrom4([4]byte{127, 0, 0, byte(3 + i)}).String())
		for range 10 {
			c.must("AUTH PLAIN "+plain("shop", "guess"), 535, "5.7.8")
		}
	}
	c := dialFrom(t, e.addr, "127.0.0.30")
	c.must("AUTH PLAIN "+plain("shop", "shop-secret"), 235, "2.0.0")
	c.must("MAIL FROM:<a@shop.test>", 250, "")
	wantThrottled(t, dialFrom(t, e.addr, "127.0.0.40"), "shop", "shop-secret")
	wantThrottled(t, dialFrom(t, e.addr, "127.0.0.31"), "shop", "shop-secret")

	// Each login renews the trust: at 721h the first one is past
	// trusted_for, the one at 700h is not. It ends trusted_for after the
	// last login.
	clk.Add(21 * time.Hour)
	for i := range 5 {
		c := dialFrom(t, e.addr, netip.AddrFrom4([4]byte{127, 0, 0, byte(10 + i)}).String())
		for range 10 {
			c.must("AUTH PLAIN "+plain("shop", "guess"), 535, "5.7.8")
		}
	}
	dialFrom(t, e.addr, "127.0.0.30").must("AUTH PLAIN "+plain("shop", "shop-secret"), 235, "2.0.0")
	clk.Add(720 * time.Hour) // since that last login
	for i := range 5 {
		c := dialFrom(t, e.addr, netip.AddrFrom4([4]byte{127, 0, 0, byte(20 + i)}).String())
		for range 10 {
			c.must("AUTH PLAIN "+plain("shop", "guess"), 535, "5.7.8")
		}
	}
	wantThrottled(t, dialFrom(t, e.addr, "127.0.0.30"), "shop", "shop-secret")
}

// TestAuthRedisDownFailsClosed: a node on Redis keeps refusing a guesser
// when Redis is gone: after ten failures from one IP the eleventh attempt,
// even with the right password, gets 454 4.7.0; another IP still gets in.
func TestAuthRedisDownFailsClosed(t *testing.T) {
	srv := testenv.StartRedis(t)
	st, err := redis.Open(context.Background(), srv.URL(), redis.Options{DialTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := testclock.New()
	e, logs := trustEnv(t, st, clk, nil)
	srv.Stop()

	c := dialFrom(t, e.addr, "127.0.0.1")
	for i := range 10 {
		if code, msg := c.authPlain("acme", "wrong"); code != 535 {
			t.Fatalf("wrong password %d: %d %s, want 535", i+1, code, msg)
		}
	}
	wantThrottled(t, c, "acme", "secret")
	dialFrom(t, e.addr, "127.0.0.2").must("AUTH PLAIN "+plain("acme", "secret"), 235, "2.0.0")
	if n := strings.Count(logs.String(), "shared state unavailable"); n != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", n, logs)
	}
}
