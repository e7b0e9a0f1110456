package history

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"sendpool/internal/state"
	"sendpool/internal/state/memory"
)

// gated is a State whose Record waits until the gate opens, counting the
// calls: a Redis that has stopped answering.
type gated struct {
	state.State
	gate    chan struct{}
	entered chan struct{}

	mu    sync.Mutex
	calls map[string]int
}

func newGated() *gated {
	return &gated{State: memory.New(nil), gate: make(chan struct{}), entered: make(chan struct{}, 100), calls: map[string]int{}}
}

func (g *gated) Record(ctx context.Context, key string, keep int, ttl time.Duration, values ...[]byte) error {
	g.entered <- struct{}{}
	<-g.gate
	g.mu.Lock()
	g.calls[key]++
	g.mu.Unlock()
	return g.State.Record(ctx, key, keep, ttl, values...)
}

var testList = List{Key: "k", Keep: 100, TTL: time.Hour}

// TestFullBufferDrops: with the writer stuck on the state, Add fills the
// buffer and then drops, returning at once and counting each drop; once
// the state answers again, Close writes every entry that was kept.
func TestFullBufferDrops(t *testing.T) {
	g := newGated()
	r := New(Config{State: g, Buffer: 4, Interval: time.Millisecond})
	// The first entry is taken by the writer, which then blocks in Record.
	if !r.Add([]byte("0"), testList) {
		t.Fatal("first Add dropped")
	}
	<-g.entered
	kept := 1
	for i := 1; i <= 10; i++ {
		if r.Add([]byte(fmt.Sprint(i)), testList) {
			kept++
		}
	}
	// The writer is stuck: the buffer of 4 took 4, the other 6 dropped.
	if kept != 5 || r.Dropped() != 6 {
		t.Fatalf("kept %d, dropped %d; want 5 kept (1 being written, 4 buffered), 6 dropped", kept, r.Dropped())
	}
	close(g.gate)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := g.Recent(t.Context(), "k", 100)
	if err != nil || len(got) != 5 || string(got[0]) != "4" || string(got[4]) != "0" {
		t.Fatalf("written after Close: %q, %v; want 4 3 2 1 0", got, err)
	}
	if r.Add([]byte("late"), testList) || r.Dropped() != 7 {
		t.Fatalf("Add after Close: dropped %d, want it dropped and counted", r.Dropped())
	}
}

// TestBatchPerList: entries waiting together go in one Record call per
// list, oldest first, and an entry for two lists is in both.
func TestBatchPerList(t *testing.T) {
	g := newGated()
	close(g.gate)
	r := New(Config{State: g, Interval: time.Hour}) // only Sync writes
	defer r.Close()
	a, b := List{Key: "a", Keep: 10, TTL: time.Hour}, List{Key: "b", Keep: 2, TTL: time.Hour}
	for i := range 5 {
		r.Add([]byte(fmt.Sprint(i)), a, b)
	}
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if g.calls["a"] != 1 || g.calls["b"] != 1 {
		t.Fatalf("Record calls: %v; want one per list", g.calls)
	}
	ga, _ := g.Recent(t.Context(), "a", 10)
	gb, _ := g.Recent(t.Context(), "b", 10)
	if len(ga) != 5 || string(ga[0]) != "4" || len(gb) != 2 || string(gb[1]) != "3" {
		t.Fatalf("a = %q, b = %q", ga, gb)
	}
}

// TestIntervalWrites: without Sync or Close, entries reach the state by
// themselves (the interval's timer).
func TestIntervalWrites(t *testing.T) {
	st := memory.New(nil)
	r := New(Config{State: st, Interval: 10 * time.Millisecond})
	defer r.Close()
	r.Add([]byte("x"), testList)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got, err := st.Recent(t.Context(), "k", 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("entry never written")
		}
	}
}

// TestSyncHonoursContext: a Sync behind a stuck write gives up with ctx.
func TestSyncHonoursContext(t *testing.T) {
	g := newGated()
	r := New(Config{State: g, Interval: time.Millisecond})
	r.Add([]byte("0"), testList)
	<-g.entered
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.Sync(ctx); err == nil {
		t.Fatal("Sync returned nil with the writer stuck and ctx done")
	}
	close(g.gate)
	r.Close()
}

// BenchmarkAdd is the cost a delivery or an accept pays: one Add (the
// entry already encoded), with the writer draining to memory.
func BenchmarkAdd(b *testing.B) {
	r := New(Config{State: memory.New(nil)})
	defer r.Close()
	v := []byte(`{"time":"2026-05-01T12:00:00Z","source_ip":"127.0.0.2","response":"250 2.0.0 Ok"}`)
	l := List{Key: "replies:127.0.0.2", Keep: ReplyKeep, TTL: ReplyTTL}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Add(v, l)
		}
	})
	b.ReportMetric(float64(r.Dropped()), "dropped")
}

// failing is a State whose Record fails, counting the calls.
type failing struct {
	state.State
	calls int
}

func (f *failing) Record(context.Context, string, int, time.Duration, ...[]byte) error {
	f.calls++
	return fmt.Errorf("connection refused")
}

// TestStateFailureDropsTheBatch: when the state refuses a write, the
// batch's entries are counted as dropped and its other lists are not
// tried (each would wait for its own timeout).
func TestStateFailureDropsTheBatch(t *testing.T) {
	f := &failing{State: memory.New(nil)}
	r := New(Config{State: f, Interval: time.Hour})
	defer r.Close()
	a, b := List{Key: "a", Keep: 10, TTL: time.Hour}, List{Key: "b", Keep: 10, TTL: time.Hour}
	for i := range 3 {
		r.Add([]byte(fmt.Sprint(i)), a, b)
	}
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r.Dropped() != 3 || f.calls != 1 {
		t.Fatalf("dropped %d after %d Record calls; want 3 after 1", r.Dropped(), f.calls)
	}
}
