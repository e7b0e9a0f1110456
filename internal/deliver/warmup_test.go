package deliver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"sendpool/internal/classify"
	"sendpool/internal/pool"
	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
	"sendpool/internal/state"
	"sendpool/internal/state/memory"
	"sendpool/internal/state/redis"
	"sendpool/internal/testclock"
	"sendpool/internal/testenv"
)

// warmDay1 returns the test clock, set 10 hours into today (UTC), and
// today's start: the first day of the IP in warm-up. Today, not a fixed
// date: the counts live in the shared state, and Redis expires them by the
// server's clock.
func warmDay1() (*testclock.Clock, time.Time) {
	clk := testclock.New()
	day1 := clk.Now().Truncate(24 * time.Hour)
	clk.Set(day1.Add(10 * time.Hour))
	return clk, day1
}

type heldTotal struct {
	mu sync.Mutex
	n  int
}

func (h *heldTotal) WarmupHeld(_, _ string, n int) { h.mu.Lock(); h.n += n; h.mu.Unlock() }

// warmupCourier is one node: a courier whose pool is 127.0.0.2, in warm-up
// on day 1 with a cap of 3 to the provider "gmail.test" (weight 100, so it
// is picked whenever usable), and, unless alone, 127.0.0.3, warm.
func (w *world) warmupCourier(t *testing.T, st state.State, clk *testclock.Clock, day1 time.Time, held pool.HeldCounter, alone bool) *Courier {
	t.Helper()
	cl, err := classify.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ips := []pool.IP{{Addr: addr("127.0.0.2"), EHLO: "new.sender.test", Weight: 100}}
	if !alone {
		ips = append(ips, pool.IP{Addr: addr("127.0.0.3"), EHLO: "old.sender.test", Weight: 1})
	}
	wu := pool.NewWarmup(pool.WarmupConfig{State: st, Held: held, Now: clk.Now, IPs: []pool.WarmIP{{
		Addr: addr("127.0.0.2"), Start: day1, Name: "test",
		Schedule: pool.Schedule{Days: 5, Growth: 2, Caps: map[string]pool.Cap{"gmail.test": {Start: 3, Max: 100}, pool.OtherProvider: {Start: 50, Max: 100}}},
	}}})
	return w.courier(func(c *Config) {
		c.Pool = pool.New(pool.Config{IPs: ips, Warmup: wu, Rand: mrand.New(mrand.NewPCG(5, 6))})
		c.Classifier = cl
		c.Provider = cl.Provider
		c.Now = clk.Now
	})
}

func fromIP(s *sandbox.Sink) map[string]int {
	n := map[string]int{}
	for _, m := range s.Messages() {
		n[m.SourceIP]++
	}
	return n
}

// An IP on day 1 with a cap of 3 to gmail.test carries 3 messages there,
// however often the pool would pick it; the warm IP carries the rest, and
// nothing waits or fails.
func TestWarmupCapSendsRestFromWarmIP(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	clk, day1 := warmDay1()
	held := &heldTotal{}
	c := w.warmupCourier(t, memory.New(nil), clk, day1, held, false)

	for g := range 4 { // four groups of three: connections are reused between them
		var group [][]*queue.Lease
		for i := range 3 {
			group = append(group, w.message(fmt.Sprintf("m%d-%d", g, i), "x\r\n", fmt.Sprintf("r%d@gmail.test", i)))
		}
		wantVerdict(t, deliver(t, c, group...), queue.VerdictDelivered, queue.VerdictDelivered, queue.VerdictDelivered)
	}
	if got := fromIP(s); got["127.0.0.2"] != 3 || got["127.0.0.3"] != 9 {
		t.Errorf("messages by source IP %v; want 3 from the IP in warm-up, 9 from the warm one", got)
	}
	if held.n == 0 {
		t.Error("no delivery counted as held back by warm-up")
	}
}

// With only IPs at their cap, the mail waits (deferred, never bounced)
// until the cap frees at the next day's larger cap, and then goes.
func TestWarmupOnlyCappedIPsWait(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	clk, day1 := warmDay1()
	c := w.warmupCourier(t, memory.New(nil), clk, day1, nil, true)

	var group [][]*queue.Lease
	for i := range 5 {
		group = append(group, w.message(fmt.Sprintf("m%d", i), "x\r\n", fmt.Sprintf("r%d@gmail.test", i)))
	}
	res := deliver(t, c, group...)
	wantVerdict(t, res, queue.VerdictDelivered, queue.VerdictDelivered, queue.VerdictDelivered,
		queue.VerdictDeferred, queue.VerdictDeferred)
	for _, r := range res[3:] {
		if !r.RetryAt.Equal(day1.Add(24 * time.Hour)) {
			t.Errorf("deferred to %v (%q); want the start of day 2, when the cap grows", r.RetryAt, r.Attempt.Response)
		}
	}
	// Later the same day: still waiting, and no connection is made.
	clk.Add(time.Hour)
	conns := len(s.Conns())
	wantVerdict(t, deliver(t, c, group[3], group[4]), queue.VerdictDeferred, queue.VerdictDeferred)
	if len(s.Conns()) != conns {
		t.Error("a capped IP connected again the same day")
	}
	// Day 2: the cap is 6 over the last 24 hours, 3 used.
	clk.Add(13 * time.Hour)
	wantVerdict(t, deliver(t, c, group[3], group[4]), queue.VerdictDelivered, queue.VerdictDelivered)
	if got := fromIP(s); got["127.0.0.2"] != 5 || len(got) != 1 {
		t.Errorf("messages by source IP %v; want 5 from 127.0.0.2", got)
	}
}

// Two nodes on one shared state share the count: together they send 3
// messages from the IP in warm-up, not 3 each.
func TestWarmupCountSharedByNodes(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		st := memory.New(nil)
		sharedNodes(t, st, st)
	})
	t.Run("redis", func(t *testing.T) {
		url := testenv.Redis(t)
		b := make([]byte, 6)
		rand.Read(b)
		prefix := "sendpool-test:" + hex.EncodeToString(b) + ":"
		open := func() state.State {
			s, err := redis.Open(context.Background(), url, redis.Options{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		sharedNodes(t, open(), open())
	})
}

func sharedNodes(t *testing.T, s1, s2 state.State) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	clk, day1 := warmDay1()
	nodes := []*Courier{w.warmupCourier(t, s1, clk, day1, nil, false), w.warmupCourier(t, s2, clk, day1, nil, false)}
	var wg sync.WaitGroup
	results := make([][]queue.Result, 2)
	for n, c := range nodes {
		var group [][]*queue.Lease
		for i := range 4 {
			group = append(group, w.message(fmt.Sprintf("n%d-%d", n, i), "x\r\n", fmt.Sprintf("r%d@gmail.test", i)))
		}
		wg.Go(func() { results[n] = deliver(t, c, group...) })
	}
	wg.Wait()
	for _, res := range results {
		wantVerdict(t, res, queue.VerdictDelivered, queue.VerdictDelivered, queue.VerdictDelivered, queue.VerdictDelivered)
	}
	if got := fromIP(s); got["127.0.0.2"] != 3 || got["127.0.0.3"] != 5 {
		t.Errorf("messages by source IP %v; want 3 from the IP in warm-up (both nodes together), 5 from the warm one", got)
	}
}
