package metrics

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"sendpool/internal/queue"
)

// TestQueueCountsCached: scrapes never count the queue more often than
// every (issue 13: /metrics ran a GROUP BY over the deliveries per
// scrape): a hundred concurrent scrapes share one count, the next ones
// reuse it, and only a scrape after every counts again.
func TestQueueCountsCached(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	var calls atomic.Int32
	queued := atomic.Int32{}
	queued.Store(4)
	m.SetQueueCounts(func() map[queue.Status]int {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond) // a query takes time: scrapes pile up meanwhile
		return map[queue.Status]int{queue.StatusQueued: int(queued.Load())}
	}, time.Hour)

	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if got := gather(t, reg)[`sendpool_queue_deliveries{status="queued"}`]; got != 4 {
				t.Errorf("queued = %v, want 4", got)
			}
		})
	}
	wg.Wait()
	queued.Store(5)
	for range 100 {
		gather(t, reg)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d counts for 200 scrapes within every, want 1", n)
	}
	if got := gather(t, reg)[`sendpool_queue_deliveries{status="queued"}`]; got != 4 {
		t.Errorf("queued = %v within every, want the last count, 4", got)
	}

	// Past every, the next scrape counts again and sees the change.
	m.SetQueueCounts(func() map[queue.Status]int {
		calls.Add(1)
		return map[queue.Status]int{queue.StatusQueued: int(queued.Load())}
	}, time.Millisecond)
	gather(t, reg)
	time.Sleep(5 * time.Millisecond)
	if got := gather(t, reg)[`sendpool_queue_deliveries{status="queued"}`]; got != 5 {
		t.Errorf("queued = %v after every, want 5", got)
	}
}

// TestQueueCountsSlowStore: a scrape waits for a count at most queueWait,
// then serves the last one: a stuck store does not stall the scraper.
func TestQueueCountsSlowStore(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	release := make(chan struct{})
	first := true
	m.SetQueueCounts(func() map[queue.Status]int {
		if first {
			first = false
			return map[queue.Status]int{queue.StatusDeferred: 7}
		}
		<-release
		return map[queue.Status]int{queue.StatusDeferred: 8}
	}, time.Millisecond)
	defer close(release)
	if got := gather(t, reg)[`sendpool_queue_deliveries{status="deferred"}`]; got != 7 {
		t.Fatalf("deferred = %v, want 7", got)
	}
	time.Sleep(5 * time.Millisecond)
	done := make(chan float64)
	go func() { done <- gather(t, reg)[`sendpool_queue_deliveries{status="deferred"}`] }()
	select {
	case got := <-done:
		if got != 7 {
			t.Errorf("deferred = %v while the store hangs, want the last count, 7", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a scrape hung on a stuck store")
	}
}

// BenchmarkScrapeQueueCounts: a scrape's cost with a store whose count
// takes 100 ms (the order of a GROUP BY over a million deliveries): the
// query runs at most once per every, not per scrape.
func BenchmarkScrapeQueueCounts(b *testing.B) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	var calls atomic.Int32
	m.SetQueueCounts(func() map[queue.Status]int {
		calls.Add(1)
		time.Sleep(100 * time.Millisecond)
		return map[queue.Status]int{queue.StatusQueued: 1}
	}, 5*time.Second)
	reg.Gather() // the first count
	b.ResetTimer()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(calls.Load()), "counts")
}
