package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The suppression counters are there at 0 from the start, count by
// source, and a nil *Suppression ignores them.
func TestSuppression(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := NewSuppression(reg)
	got := gather(t, reg)
	for _, k := range []string{`sendpool_suppressed_total{source="bounce"}`, `sendpool_suppressed_total{source="admin"}`,
		`sendpool_suppression_refusals_total{}`} {
		if v, ok := got[k]; !ok || v != 0 {
			t.Errorf("%s before anything: %v, %v; want a series at 0", k, v, ok)
		}
	}
	s.Suppressed("bounce")
	s.Suppressed("bounce")
	s.Suppressed("admin")
	s.Refused()
	var nilS *Suppression
	nilS.Suppressed("bounce")
	nilS.Refused()
	got = gather(t, reg)
	if got[`sendpool_suppressed_total{source="bounce"}`] != 2 || got[`sendpool_suppressed_total{source="admin"}`] != 1 ||
		got[`sendpool_suppression_refusals_total{}`] != 1 {
		t.Errorf("counters: %v", got)
	}
}
