package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The purge counter is there at 0 from the start (so rate() sees the first
// purge), adds up batches, and a nil *Metrics ignores it.
func TestPurged(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	if v, ok := gather(t, reg)[`sendpool_purged_messages_total{}`]; !ok || v != 0 {
		t.Fatalf("before any purge: %v, %v; want a series at 0", v, ok)
	}
	m.Purged(1000)
	m.Purged(250)
	var nilM *Metrics
	nilM.Purged(5)
	if v := gather(t, reg)[`sendpool_purged_messages_total{}`]; v != 1250 {
		t.Fatalf("sendpool_purged_messages_total = %v, want 1250", v)
	}
}
