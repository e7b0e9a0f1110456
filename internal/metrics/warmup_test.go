package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Deliveries held back by warm-up add up per IP and provider.
func TestWarmupHeld(t *testing.T) {
	reg := prometheus.NewRegistry()
	w := NewWarmup(reg)
	w.WarmupHeld("127.0.0.2", "gmail", 3)
	w.WarmupHeld("127.0.0.2", "gmail", 1)
	w.WarmupHeld("127.0.0.3", "other", 2)
	var nilW *Warmup
	nilW.WarmupHeld("127.0.0.2", "gmail", 9)
	got := gather(t, reg)
	for k, want := range map[string]float64{
		`sendpool_warmup_held_total{ip="127.0.0.2",provider="gmail"}`: 4,
		`sendpool_warmup_held_total{ip="127.0.0.3",provider="other"}`: 2,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], want, got)
		}
	}
}
