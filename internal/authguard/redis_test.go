package authguard

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strings"
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

// TestRedisDownFailsClosed: with Redis killed under a running guard, the
// failures count on the node and the 11th attempt from one IP is refused
// (the node kept its own count of those made before too),
// promptly (no dial timeout per attempt); the outage is logged once; once
// Redis is back the guard counts there again.
func TestRedisDownFailsClosed(t *testing.T) {
	srv := testenv.StartRedis(t)
	st, err := redis.Open(context.Background(), srv.URL(), redis.Options{DialTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &bytes.Buffer{}
	var mu sync.Mutex
	g := New(Config{State: st, MaxFailures: 10, MaxAccountFailures: 50, Window: 15 * time.Minute,
		TrustedFor: time.Hour, Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, logs}, nil))})
	ip := netip.MustParseAddr("198.51.100.7")
	g.Fail(ctx, ip, "shop") // one counted in Redis

	srv.Stop()
	start := time.Now()
	for i := range 9 {
		if err := g.Check(ctx, ip, "shop"); err != nil {
			t.Fatalf("attempt %d refused: %v", i+2, err)
		}
		g.Fail(ctx, ip, "shop")
	}
	// Ten failures: the node kept its own count of all ten, the one made
	// before Redis went included.
	var r *Refused
	if err := g.Check(ctx, ip, "shop"); !errors.As(err, &r) || r.Scope != ScopeIP {
		t.Fatalf("11th attempt with Redis down: %v, want an IP refusal", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("attempts with Redis down took %v", d)
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if n := strings.Count(out, "shared state unavailable"); n != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", n, out)
	}

	srv.Start() // empty: what was counted in it is gone
	deadline := time.Now().Add(15 * time.Second)
	for {
		g.Fail(ctx, netip.MustParseAddr("198.51.100.8"), "")
		mu.Lock()
		back := strings.Contains(logs.String(), "shared state back")
		mu.Unlock()
		if back {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("guard still off the shared state 15s after Redis came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
	n, err := st.Count(ctx, ipKey(netip.MustParseAddr("198.51.100.8")), time.Now(), time.Hour)
	if err != nil || n == 0 {
		t.Errorf("failures after Redis came back: %d in Redis, %v; want counted there", n, err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
