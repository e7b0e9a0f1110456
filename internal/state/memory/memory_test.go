package memory

import (
	"fmt"
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
	if d, err := s.Take(ctx, "late", 0, clk.Now(), w); err != nil || !d.Allowed {
		t.Fatal(d, err)
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
