package mongo

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/testenv"
)

// gatedWrites is a report write whose first call waits for gate, as a
// server busy with one batch does, and which answers ErrLeaseLost for the
// leases named "lost".
type gatedWrites struct {
	gate  chan struct{}
	mu    sync.Mutex
	calls [][]string
}

func (w *gatedWrites) write(_ context.Context, ls []*queue.Lease, _ []queue.Outcome) []error {
	w.mu.Lock()
	var ids []string
	for _, l := range ls {
		ids = append(ids, l.ID)
	}
	w.calls = append(w.calls, ids)
	first := len(w.calls) == 1
	w.mu.Unlock()
	if first {
		<-w.gate
	}
	errs := make([]error, len(ls))
	for i, l := range ls {
		if l.ID == "lost" {
			errs[i] = queue.ErrLeaseLost
		}
	}
	return errs
}

// TestReportsMerged: the reports made while one batch is being written go
// together in the next single write, each caller gets its own leases'
// errors back, and a report made alone goes at once, alone.
func TestReportsMerged(t *testing.T) {
	w := &gatedWrites{gate: make(chan struct{})}
	var q reportQueue
	call := func(ids ...string) []error {
		ls := make([]*queue.Lease, len(ids))
		for i, id := range ids {
			ls[i] = &queue.Lease{Delivery: queue.Delivery{ID: id}}
		}
		return q.do(context.Background(), ls, make([]queue.Outcome, len(ids)), w.write)
	}
	calls := func() int { w.mu.Lock(); defer w.mu.Unlock(); return len(w.calls) }

	var wg sync.WaitGroup
	wg.Go(func() {
		if errs := call("a"); !slices.Equal(errs, []error{nil}) {
			t.Errorf("a: %v", errs)
		}
	})
	waitUntil(t, "the first batch being written", func() bool { return calls() == 1 })
	results := make([][]error, 5)
	for i := range results {
		wg.Go(func() {
			if i == 2 {
				results[i] = call("c1", "lost", "c3")
			} else {
				results[i] = call(fmt.Sprint("b", i))
			}
		})
	}
	waitUntil(t, "five reports waiting", func() bool { q.mu.Lock(); defer q.mu.Unlock(); return len(q.queue) == 5 })
	close(w.gate)
	wg.Wait()

	if len(w.calls) != 2 {
		t.Fatalf("writes %v, want 2: the first alone, then the five waiting together", w.calls)
	}
	got := slices.Sorted(slices.Values(w.calls[1]))
	if want := []string{"b0", "b1", "b3", "b4", "c1", "c3", "lost"}; !slices.Equal(got, want) {
		t.Errorf("second write reported %v, want %v", got, want)
	}
	for i, errs := range results {
		want := []error{nil}
		if i == 2 {
			want = []error{nil, queue.ErrLeaseLost, nil}
		}
		if !slices.Equal(errs, want) {
			t.Errorf("report %d: errors %v, want %v", i, errs, want)
		}
	}
	if errs := call("alone"); !slices.Equal(errs, []error{nil}) || len(w.calls) != 3 || !slices.Equal(w.calls[2], []string{"alone"}) {
		t.Errorf("a report made alone: errors %v, writes %v", errs, w.calls)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, what, cond)
}
