package pool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"sendpool/internal/state"
	"sendpool/internal/state/memory"
	"sendpool/internal/state/redis"
	"sendpool/internal/testclock"
	"sendpool/internal/testenv"
)

// warmDay1 returns the test clock, set 10 hours into today (UTC), and
// today's start, the first day of an IP in warm-up (today, not a fixed
// date: Redis expires the counts by the server's clock).
func warmDay1() (*testclock.Clock, time.Time) {
	clk := testclock.New()
	day1 := clk.Now().Truncate(24 * time.Hour)
	clk.Set(day1.Add(10 * time.Hour))
	return clk, day1
}

// schedule3 caps gmail at 3 on day 1, doubling to 10, warm after 3 days.
func schedule3() Schedule {
	return Schedule{Days: 3, Growth: 2, Caps: map[string]Cap{"gmail": {3, 10}, OtherProvider: {5, 10}}}
}

func TestScheduleLimitAndDay(t *testing.T) {
	s := schedule3()
	for _, c := range []struct {
		bucket string
		day    int
		want   int
	}{{"gmail", 0, 3}, {"gmail", 1, 3}, {"gmail", 2, 6}, {"gmail", 3, 10}, {"gmail", 40, 10},
		{"other", 1, 5}, {"aol", 2, 10}, {"gmail", 2000, 10}} {
		if got := s.Limit(c.bucket, c.day); got != c.want {
			t.Errorf("Limit(%s, day %d) = %d, want %d", c.bucket, c.day, got, c.want)
		}
	}
	if b := s.Bucket("gmail"); b != "gmail" {
		t.Errorf("Bucket(gmail) = %q", b)
	}
	if b := s.Bucket("example.org"); b != OtherProvider {
		t.Errorf("Bucket(example.org) = %q", b)
	}
	_, day1 := warmDay1()
	for _, c := range []struct {
		at   time.Time
		want int
	}{{day1.Add(-time.Hour), 1}, {day1, 1}, {day1.Add(23*time.Hour + 59*time.Minute), 1},
		{day1.Add(24 * time.Hour), 2}, {day1.Add(50 * time.Hour), 3}} {
		if got := Day(day1, c.at); got != c.want {
			t.Errorf("Day(%v) = %d, want %d", c.at, got, c.want)
		}
	}
}

// countingState counts the calls that reach the state.
type countingState struct {
	state.State
	calls atomic.Int64
	fail  atomic.Bool
}

func (s *countingState) Take(ctx context.Context, key string, n int, now time.Time, ws []state.Window) (state.Decision, error) {
	s.calls.Add(1)
	if s.fail.Load() {
		return state.Decision{}, errors.New("state down")
	}
	return s.State.Take(ctx, key, n, now, ws)
}

type heldCount map[string]int

func (h heldCount) WarmupHeld(ip, provider string, n int) { h[ip+" "+provider] += n }

// An IP at its cap for gmail is not picked for gmail (the warm IP is),
// is still picked for others, and returns at the next day's larger cap.
func TestWarmupCapsOneProvider(t *testing.T) {
	ctx := context.Background()
	clk, day1 := warmDay1()
	ips := testIPs(1, 1)
	cold, warm := ips[0], ips[1]
	st := &countingState{State: memory.New(nil)}
	held := heldCount{}
	w := NewWarmup(WarmupConfig{State: st, IPs: []WarmIP{{Addr: cold.Addr, Start: day1, Schedule: schedule3()}},
		Held: held, Now: clk.Now})
	p := New(Config{IPs: ips, Health: w, Rand: seeded()}) // as a Health: Pick only, no admission

	for i := range 3 {
		if !w.Admit(ctx, cold.Addr, "gmail", 1) {
			t.Fatalf("delivery %d refused under the cap of 3", i+1)
		}
	}
	if w.Admit(ctx, cold.Addr, "gmail", 1) {
		t.Fatal("a 4th delivery admitted on day 1 (cap 3)")
	}
	if held["127.0.0.2 gmail"] != 1 {
		t.Errorf("held: %v", held)
	}
	for range 200 {
		if ip, ok := pick(p, "gmail", nil); !ok || ip != warm {
			t.Fatalf("Pick(gmail) = %v, %v; want the warm IP only", ip, ok)
		}
	}
	n := 0
	for range 200 {
		if ip, _ := pick(p, "outlook", nil); ip == cold {
			n++
		}
	}
	if n == 0 {
		t.Error("the capped IP is never picked for another provider")
	}
	// The warm IP costs no state call, however much it sends.
	before := st.calls.Load()
	for range 100 {
		if !w.Admit(ctx, warm.Addr, "gmail", 1) {
			t.Fatal("a warm IP refused")
		}
	}
	if st.calls.Load() != before {
		t.Errorf("a warm IP made %d state calls", st.calls.Load()-before)
	}

	// With the cold IP alone, nothing is usable for gmail until day 2.
	alone := New(Config{IPs: []IP{cold}, Health: w})
	if c := alone.Choose(ctx, Request{Destination: "gmail"}); c.OK {
		t.Fatal("a capped IP picked")
	} else if !c.Until.Equal(day1.Add(24 * time.Hour)) {
		t.Errorf("Until = %v, want the start of day 2 (cap 6)", c.Until)
	}
	clk.Add(14 * time.Hour) // day 2: cap 6, 3 counted in the last 24 h
	if _, ok := pick(alone, "gmail", nil); !ok {
		t.Fatal("not usable on day 2")
	}
	for i := range 3 {
		if !w.Admit(ctx, cold.Addr, "gmail", 1) {
			t.Fatalf("day 2, delivery %d refused", i+4)
		}
	}
	if w.Admit(ctx, cold.Addr, "gmail", 1) {
		t.Fatal("day 2: a 7th delivery within 24 h admitted (cap 6)")
	}
	// Day 4: warm, no more counting.
	clk.Add(48 * time.Hour)
	before = st.calls.Load()
	if !w.Admit(ctx, cold.Addr, "gmail", 1000) || !w.Usable(cold.Addr, "gmail") || st.calls.Load() != before {
		t.Error("an IP past its schedule is still counted")
	}
	if _, ok, _ := w.Status(ctx, cold.Addr); ok {
		t.Error("Status shows a warm IP in warm-up")
	}
}

// One message to more recipients than a day's cap takes the whole cap
// rather than waiting for ever; a failing state keeps the IP out briefly.
func TestWarmupLargeMessageAndStateFailure(t *testing.T) {
	ctx := context.Background()
	clk, day1 := warmDay1()
	clk.Set(day1)
	a := testIPs(1)[0].Addr
	st := &countingState{State: memory.New(nil)}
	w := NewWarmup(WarmupConfig{State: st, IPs: []WarmIP{{Addr: a, Start: day1, Schedule: schedule3()}}, Now: clk.Now})
	if !w.Admit(ctx, a, "gmail", 50) {
		t.Fatal("a message to 50 recipients refused on a fresh day (cap 3)")
	}
	if w.Admit(ctx, a, "gmail", 1) {
		t.Fatal("admitted past the cap")
	}
	st.fail.Store(true)
	if w.Admit(ctx, a, "yahoo", 1) {
		t.Fatal("admitted while the state fails")
	}
	if at := w.UsableAt(a, "yahoo"); !at.Equal(clk.Now().Add(time.Minute)) {
		t.Errorf("after a state failure, usable at %v, want in a minute", at)
	}
}

// Two nodes (two Warmups) on one shared state draw on one count.
func TestWarmupSharedByNodes(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		st := memory.New(nil)
		sharedCount(t, st, st)
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
		sharedCount(t, open(), open())
	})
}

func sharedCount(t *testing.T, s1, s2 state.State) {
	ctx := context.Background()
	// A real date: Redis's keys expire by the server's clock.
	clk := testclock.New()
	start := clk.Now().Truncate(24 * time.Hour)
	a := testIPs(1)[0].Addr
	wi := []WarmIP{{Addr: a, Start: start, Name: "test", Schedule: schedule3()}}
	n1 := NewWarmup(WarmupConfig{State: s1, IPs: wi, Now: clk.Now})
	n2 := NewWarmup(WarmupConfig{State: s2, IPs: wi, Now: clk.Now})
	if !n1.Admit(ctx, a, "gmail", 2) || !n2.Admit(ctx, a, "gmail", 1) {
		t.Fatal("refused under the cap")
	}
	if n2.Admit(ctx, a, "gmail", 1) || n1.Admit(ctx, a, "gmail", 1) {
		t.Fatal("the two nodes together sent more than the cap of 3")
	}
	if !n2.Admit(ctx, a, "example.org", 2) {
		t.Fatal("the other bucket refused")
	}
	st, ok, err := n1.Status(ctx, a)
	if err != nil || !ok {
		t.Fatalf("Status: %v %v", ok, err)
	}
	want := []ProviderUsage{{Provider: "gmail", Used: 3, Cap: 3, Day: 1}, {Provider: OtherProvider, Used: 2, Cap: 5, Day: 1}}
	if st.Day != 1 || st.Days != 3 || st.Schedule != "test" || len(st.Providers) != 2 ||
		st.Providers[0] != want[0] || st.Providers[1] != want[1] {
		t.Errorf("Status = %+v, want day 1 of 3 and %v", st, want)
	}
}

// The cost of a choice: suspensions alone (a warm pool), with a warm-up
// whose IPs are all warm, or one of four in warm-up; and with the pacer of
// a pool none of whose IPs is paced.
func BenchmarkChooseWarmup(b *testing.B) {
	ips := testIPs(1, 1, 1, 1)
	tr := NewTracker(TrackerConfig{State: memory.New(nil)})
	one := NewWarmup(WarmupConfig{State: memory.New(nil), IPs: []WarmIP{{Addr: ips[0].Addr, Start: time.Now(), Schedule: schedule3()}}})
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"tracker", Config{IPs: ips, Tracker: tr}},
		{"none-warming", Config{IPs: ips, Tracker: tr, Warmup: NewWarmup(WarmupConfig{State: memory.New(nil)})}},
		{"one-warming", Config{IPs: ips, Tracker: tr, Warmup: one}},
		{"pacer", Config{IPs: ips, Tracker: tr, Pacer: NewPacer(PaceConfig{State: memory.New(nil)})}},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.cfg.Rand = seeded()
			p := New(c.cfg)
			ctx := context.Background()
			for b.Loop() {
				p.Choose(ctx, Request{Destination: "gmail", Rcpts: 1})
			}
		})
	}
}
