package metrics

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"sendpool/internal/queue"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)

	m.Accepted("smtp")
	m.Accepted("smtp")
	m.Accepted("http")
	m.Rejected("spam")
	m.Attempt("delivered", "127.0.0.2", 200*time.Millisecond)
	m.Attempt("blocked-ip", "127.0.0.3", 3*time.Second)
	m.SetSuspended("127.0.0.3", "pool", true)
	m.SetSuspended("127.0.0.4", "outlook", true)
	m.SetSuspended("127.0.0.4", "outlook", false)
	m.SetQueueCounts(func() map[queue.Status]int {
		return map[queue.Status]int{queue.StatusQueued: 4, queue.StatusDelivered: 9}
	}, time.Minute)

	got := gather(t, reg)
	want := map[string]float64{
		`sendpool_messages_accepted_total{protocol="http"}`:                            1,
		`sendpool_messages_accepted_total{protocol="smtp"}`:                            2,
		`sendpool_messages_rejected_total{reason="spam"}`:                              1,
		`sendpool_delivery_attempts_total{source_ip="127.0.0.2",verdict="delivered"}`:  1,
		`sendpool_delivery_attempts_total{source_ip="127.0.0.3",verdict="blocked-ip"}`: 1,
		`sendpool_ip_suspended{ip="127.0.0.3",scope="pool"}`:                           1,
		`sendpool_ip_suspended{ip="127.0.0.4",scope="outlook"}`:                        0,
		`sendpool_queue_deliveries{status="bounced"}`:                                  0,
		`sendpool_queue_deliveries{status="deferred"}`:                                 0,
		`sendpool_queue_deliveries{status="delivered"}`:                                9,
		`sendpool_queue_deliveries{status="held"}`:                                     0,
		`sendpool_queue_deliveries{status="queued"}`:                                   4,
		`sendpool_purged_messages_total{}`:                                             0, // purge_test.go
	}
	if !maps.Equal(got, want) {
		t.Errorf("series:\n got %v\nwant %v", got, want)
	}

	// The histogram: two observations, one in the 0.25 s bucket and one in 5 s.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, mf := range mfs {
		if mf.GetName() != "sendpool_delivery_duration_seconds" {
			continue
		}
		found = true
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != 2 || h.GetSampleSum() != 3.2 {
			t.Errorf("histogram count %d sum %v, want 2 and 3.2", h.GetSampleCount(), h.GetSampleSum())
		}
		for _, b := range h.GetBucket() {
			var want uint64
			switch {
			case b.GetUpperBound() >= 5:
				want = 2
			case b.GetUpperBound() >= 0.25:
				want = 1
			}
			if b.GetCumulativeCount() != want {
				t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
			}
		}
	}
	if !found {
		t.Error("no sendpool_delivery_duration_seconds")
	}
}

// A failing count source (nil map) gives no series rather than false zeros.
func TestQueueCountsNil(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	queueSeries := func() int {
		n := 0
		for k := range gather(t, reg) {
			if strings.HasPrefix(k, "sendpool_queue_deliveries{") {
				n++
			}
		}
		return n
	}
	if n := queueSeries(); n != 0 {
		t.Errorf("before SetQueueCounts: %d series, want 0", n)
	}
	m.SetQueueCounts(func() map[queue.Status]int { return nil }, time.Minute)
	if n := queueSeries(); n != 0 {
		t.Errorf("nil counts: %d series, want 0", n)
	}
}

// Two processes' worth of metrics on two registries do not collide, and a
// nil *Metrics is a no-op.
func TestSeparateRegistriesAndNil(t *testing.T) {
	New(prometheus.NewRegistry())
	New(prometheus.NewRegistry())
	var m *Metrics
	m.Accepted("smtp")
	m.Rejected("x")
	m.Attempt("delivered", "127.0.0.2", time.Second)
	m.SetSuspended("127.0.0.2", "pool", true)
	m.SetQueueCounts(nil, time.Minute)
}

// gather returns every counter and gauge series on reg as
// name{label="value",…} → value, labels in name order.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			slices.Sort(labels)
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}
