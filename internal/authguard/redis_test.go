package authguard

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sendpool/internal/state/redis"
	"sendpool/internal/testclock"
	"sendpool/internal/testenv"
)

// TestSharedRedis: two guards (two nodes) over one Redis see each other's
// failures, refuse until the same instant, and of many concurrent failures
// on both exactly one begins the lockout.
func TestSharedRedis(t *testing.T) {
	url := testenv.Redis(t)
	prefix := "sendpool-test:authguard:" + time.Now().Format("150405.000000000") + ":"
	clk := testclock.New()
	var lockouts atomic.Int32
	node := func() *Guard {
		st, err := redis.Open(context.Background(), url, redis.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if keys, err := st.Client().Keys(ctx, prefix+"*").Result(); err == nil && len(keys) > 0 {
				st.Client().Del(ctx, keys...)
			}
			st.Close()
		})
		return New(Config{State: st, MaxFailures: 10, MaxAccountFailures: 50, Window: 15 * time.Minute,
			Now: clk.Now, OnLockout: func(string) { lockouts.Add(1) }})
	}
	a, b := node(), node()
	ip := netip.MustParseAddr("198.51.100.7")

	first := clk.Now()
	var wg sync.WaitGroup
	for i := range 30 {
		g := a
		if i%2 == 1 {
			g = b
		}
		wg.Go(func() { g.Fail(ctx, ip, "shop1") })
	}
	wg.Wait()
	if n := lockouts.Load(); n != 1 {
		t.Errorf("%d lockouts from 30 concurrent failures on two nodes, want 1", n)
	}
	clk.Add(time.Minute)
	for _, g := range []*Guard{a, b} {
		var r *Refused
		if err := g.Check(ctx, ip, "shop1"); !errors.As(err, &r) || r.Scope != ScopeIP {
			t.Fatalf("Check: %v, want an IP refusal", err)
		}
		if !r.Until.Equal(first.Add(15*time.Minute)) || r.Wait != 14*time.Minute {
			t.Errorf("until %v (wait %v), want %v (14m)", r.Until, r.Wait, first.Add(15*time.Minute))
		}
	}
	if err := b.Check(ctx, netip.MustParseAddr("198.51.100.8"), "shop1"); err != nil {
		t.Errorf("another IP: %v", err)
	}
	clk.Add(14 * time.Minute)
	if err := b.Check(ctx, ip, "shop1"); err != nil {
		t.Errorf("once the window frees: %v", err)
	}
}
