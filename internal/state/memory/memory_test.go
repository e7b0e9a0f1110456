package memory

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"sendpool/internal/state"
	"sendpool/internal/state/statetest"
	"sendpool/internal/testclock"
)

func TestConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.State { return New(nil) })
}

// TestSweep: keys whose events have left every window go, as Redis expires
// them, so that a stream of one-off keys (a botnet's IPs, each failing
// once) does not grow the state for ever; a key still in its window stays.
func TestSweep(t *testing.T) {
	clk := testclock.New()
	s := New(clk.Now)
	ctx := t.Context()
	w := []state.Window{{Size: 15 * time.Minute, Max: 10}}
	for i := range 1000 {
		if _, err := s.Take(ctx, fmt.Sprintf("ip:%d", i), 1, clk.Now(), w); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(10 * time.Minute)
	if _, err := s.Take(ctx, "late", 1, clk.Now(), w); err != nil {
		t.Fatal(err)
	}
	clk.Add(6 * time.Minute) // the first thousand are out of their window
	// Each call looks at sweepBatch keys at most: the thousand go within
	// 1000/sweepBatch calls, none of which pays for them all.
	keys := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.events)
	}
	for calls := 0; keys() > 1; calls++ {
		before := keys()
		if d, err := s.Take(ctx, "late", 0, clk.Now(), w); err != nil || !d.Allowed {
			t.Fatal(d, err)
		}
		if swept := before - keys(); swept > sweepBatch {
			t.Fatalf("one call swept %d keys, more than sweepBatch (%d)", swept, sweepBatch)
		}
		if calls > 1000/sweepBatch+1 {
			t.Fatalf("%d keys left after %d calls", keys(), calls)
		}
	}
	s.mu.Lock()
	n, late := len(s.events), len(s.events["late"])
	s.mu.Unlock()
	if n != 1 || late != 1 {
		t.Errorf("%d keys left (late holds %d events), want only late with its one", n, late)
	}
	if c, _ := s.Count(ctx, "late", clk.Now(), 15*time.Minute); c != 1 {
		t.Errorf("Count(late) = %d after the sweep, want 1", c)
	}

	// Seen sets go once their ttl has passed.
	if err := s.Seen(ctx, "acct", "192.0.2.1", clk.Now(), 10, time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Hour)
	s.Take(ctx, "late", 0, clk.Now(), w)
	s.mu.Lock()
	sets := len(s.seen)
	s.mu.Unlock()
	if sets != 0 {
		t.Errorf("%d seen sets left after their ttl", sets)
	}
}

// TestSweepTTL: cache entries, lists and seen sets go once their ttl has
// passed, though nobody reads them again (issue 13: the memory state
// kept every expired key); a key written again in the meantime stays.
func TestSweepTTL(t *testing.T) {
	clk := testclock.New()
	s := New(clk.Now)
	ctx := t.Context()
	for i := range 300 {
		k := fmt.Sprintf("k%d", i)
		s.Set(ctx, "dns:"+k, []byte("x"), time.Minute)
		s.Record(ctx, "replies:"+k, 5, time.Minute, []byte("r"))
		s.Seen(ctx, "trusted:"+k, "192.0.2.1", clk.Now(), 8, time.Minute)
	}
	clk.Add(30 * time.Second)
	s.Set(ctx, "dns:k0", []byte("y"), time.Minute) // written again: due a minute from now
	clk.Add(31 * time.Second)
	sizes := func() (int, int, int, int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.cache), len(s.lists), len(s.seen), s.ttlDue.len()
	}
	// Writes of other keys sweep as they go, sweepBatch keys a call.
	for i := 0; i < 3*300/sweepBatch+3; i++ {
		s.Set(ctx, "other", []byte("z"), time.Hour)
	}
	cache, lists, seen, due := sizes()
	if cache != 2 || lists != 0 || seen != 0 {
		t.Errorf("left: %d cache entries (want dns:k0 and other), %d lists, %d seen sets (want none)", cache, lists, seen)
	}
	if due > 4 {
		t.Errorf("%d items still scheduled for 2 keys", due)
	}
	if v, ok, _ := s.Get(ctx, "dns:k0"); !ok || string(v) != "y" {
		t.Errorf("dns:k0 = %q, %v; the key written again must stay", v, ok)
	}
	clk.Add(time.Minute)
	s.Get(ctx, "nothing")
	if cache, _, _, _ := sizes(); cache != 1 {
		t.Errorf("%d cache entries after dns:k0's ttl, want only other", cache)
	}
}

// TestSweepBounded: a stream of one-off keys (a botnet's IPs, each failing
// once) keeps the state at about the keys live within their window.
func TestSweepBounded(t *testing.T) {
	clk := testclock.New()
	s := New(clk.Now)
	ctx := t.Context()
	w := []state.Window{{Size: time.Minute, Max: 10}}
	for i := range 20000 {
		clk.Add(10 * time.Millisecond) // 100 new keys a second
		if _, err := s.Take(ctx, fmt.Sprintf("ip:%d", i), 1, clk.Now(), w); err != nil {
			t.Fatal(err)
		}
		s.Set(ctx, fmt.Sprintf("dns:%d", i), []byte("x"), time.Minute)
	}
	s.mu.Lock()
	events, cache := len(s.events), len(s.cache)
	s.mu.Unlock()
	// A minute at 100 keys a second is 6,000 live keys of each kind.
	if events > 6100 || cache > 6100 {
		t.Errorf("%d counters and %d cache entries kept of 20,000, want about 6,000 each", events, cache)
	}
}

// BenchmarkTakeOneOffKeys: Take's cost with the sweep, every key new and
// each gone after a minute (a steady state of about 60,000 keys).
func BenchmarkTakeOneOffKeys(b *testing.B) {
	clk := testclock.New()
	s := New(clk.Now)
	ctx := b.Context()
	w := []state.Window{{Size: time.Minute, Max: 10}}
	i := 0
	for b.Loop() {
		clk.Add(time.Millisecond)
		s.Take(ctx, "ip:"+strconv.Itoa(i), 1, clk.Now(), w)
		i++
	}
	s.mu.Lock()
	b.ReportMetric(float64(len(s.events)), "keys")
	s.mu.Unlock()
}
