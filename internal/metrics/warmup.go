package metrics

import "github.com/prometheus/client_golang/prometheus"

// Warmup counts deliveries held back by IP warm-up caps; it implements
// pool.HeldCounter.
type Warmup struct {
	held *prometheus.CounterVec
}

// NewWarmup registers sendpool_warmup_held_total{ip,provider} on reg.
func NewWarmup(reg prometheus.Registerer) *Warmup {
	w := &Warmup{held: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sendpool_warmup_held_total",
		Help: "Deliveries an IP's warm-up cap for a provider held back: they went from another IP, or waited for the cap to free.",
	}, []string{"ip", "provider"})}
	reg.MustRegister(w.held)
	return w
}

// WarmupHeld counts n deliveries ip's cap for provider held back.
func (w *Warmup) WarmupHeld(ip, provider string, n int) {
	if w != nil {
		w.held.WithLabelValues(ip, provider).Add(float64(n))
	}
}
