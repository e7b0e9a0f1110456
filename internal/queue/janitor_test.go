package queue_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/testclock"
)

// janitorStore is the real SQLite store on a fake clock, holding finished
// one-recipient messages finished at the clock's start and one deferred.
func janitorStore(t *testing.T, c *testclock.Clock, finished int) (*sqlite.Store, string) {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "queue.db"), sqlite.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	for range finished + 1 {
		if err := s.Put(ctx, &queue.Message{From: "a@acme.test", Body: []byte("hi"),
			Recipients: []string{"r@one.test"}}); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := s.Lease(ctx, "n", c.Now(), time.Minute, finished+1)
	if err != nil || len(ls) != finished+1 {
		t.Fatalf("Lease = %d, %v", len(ls), err)
	}
	for i := range ls {
		o := queue.Outcome{Status: queue.StatusDelivered, Attempt: queue.Attempt{Time: c.Now(), Response: "250 ok"}}
		if i == 0 {
			o = queue.Outcome{Status: queue.StatusDeferred, Next: c.Now().Add(time.Hour),
				Attempt: queue.Attempt{Time: c.Now(), Response: "451 later"}}
		}
		if err := s.Report(ctx, &ls[i], o); err != nil {
			t.Fatal(err)
		}
	}
	return s, ls[0].MessageID
}

// TestJanitorSweepsAfterRetention: nothing goes before the retention has
// passed; then every finished message goes, in batches, and the unfinished
// one stays.
func TestJanitorSweepsAfterRetention(t *testing.T) {
	c := testclock.New()
	s, waiting := janitorStore(t, c, 25)
	var batches []int
	j := queue.NewJanitor(s, queue.JanitorConfig{Retention: 720 * time.Hour, Batch: 10, Now: c.Now,
		OnPurged: func(n int) { batches = append(batches, n) }})

	c.Set(c.Now().Add(720*time.Hour - time.Minute))
	if n, err := j.Sweep(t.Context()); err != nil || n != 0 {
		t.Fatalf("Sweep within the retention = %d, %v; want 0", n, err)
	}
	c.Set(c.Now().Add(2 * time.Minute))
	if n, err := j.Sweep(t.Context()); err != nil || n != 25 {
		t.Fatalf("Sweep past the retention = %d, %v; want 25", n, err)
	}
	if !slices.Equal(batches, []int{10, 10, 5}) {
		t.Errorf("batches %v, want [10 10 5]", batches)
	}
	ms, err := s.ListMessages(t.Context(), queue.Filter{})
	if err != nil || len(ms) != 1 || ms[0].ID != waiting {
		t.Fatalf("left: %v, %v; want only the deferred message", ms, err)
	}
}

// TestJanitorKeepsForeverWithZeroRetention: retention 0 purges nothing and
// Run returns at once.
func TestJanitorKeepsForeverWithZeroRetention(t *testing.T) {
	c := testclock.New()
	s, _ := janitorStore(t, c, 3)
	c.Set(c.Now().Add(100000 * time.Hour))
	j := queue.NewJanitor(s, queue.JanitorConfig{Now: c.Now})
	if n, err := j.Sweep(t.Context()); err != nil || n != 0 {
		t.Fatalf("Sweep = %d, %v; want 0", n, err)
	}
	j.Run(t.Context()) // returns: nothing to do
	if ms, _ := s.ListMessages(t.Context(), queue.Filter{}); len(ms) != 4 {
		t.Fatalf("%d messages left, want all 4", len(ms))
	}
}

// TestJanitorRunSweepsAtStart: Run sweeps at once (a node that restarts
// does not wait an interval), and stops when its context ends.
func TestJanitorRunSweepsAtStart(t *testing.T) {
	c := testclock.New()
	s, _ := janitorStore(t, c, 3)
	c.Set(c.Now().Add(time.Hour))
	purged := make(chan int, 10)
	j := queue.NewJanitor(s, queue.JanitorConfig{Retention: time.Minute, Interval: time.Hour, Now: c.Now,
		OnPurged: func(n int) { purged <- n }})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); j.Run(ctx) }()
	if n := <-purged; n != 3 {
		t.Errorf("first sweep purged %d, want 3", n)
	}
	cancel()
	<-done
}

// failing fails every Purge after the first.
type failing struct {
	mu    sync.Mutex
	calls int
}

func (f *failing) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls > 1 {
		return 0, errors.New("store down")
	}
	return limit, nil
}

// TestJanitorStopsAtError: a failing Purge ends the sweep, with the count
// of what was purged before it.
func TestJanitorStopsAtError(t *testing.T) {
	f := &failing{}
	j := queue.NewJanitor(f, queue.JanitorConfig{Retention: time.Hour, Batch: 7})
	n, err := j.Sweep(t.Context())
	if err == nil || n != 7 || f.calls != 2 {
		t.Fatalf("Sweep = %d, %v after %d calls; want 7 and the error after 2", n, err, f.calls)
	}
}
