package metrics

import "github.com/prometheus/client_golang/prometheus"

// Suppression counts what the suppression lists do (internal/suppression):
// entries added and recipients refused for being on one.
type Suppression struct {
	added   *prometheus.CounterVec
	refused prometheus.Counter
}

// NewSuppression registers sendpool_suppressed_total{source} and
// sendpool_suppression_refusals_total on reg, each series at 0 from the
// start (so that rate() sees the first one).
func NewSuppression(reg prometheus.Registerer) *Suppression {
	s := &Suppression{
		added: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendpool_suppressed_total",
			Help: "Recipients put on an account's suppression list, by source: bounce (a permanent bad-mailbox reply) or admin.",
		}, []string{"source"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendpool_suppression_refusals_total",
			Help: "Recipients refused at intake (550 5.1.1) for being on their account's suppression list.",
		}),
	}
	s.added.WithLabelValues("bounce")
	s.added.WithLabelValues("admin")
	reg.MustRegister(s.added, s.refused)
	return s
}

// Suppressed counts an entry added from source ("bounce" or "admin").
func (s *Suppression) Suppressed(source string) {
	if s != nil {
		s.added.WithLabelValues(source).Inc()
	}
}

// Refused counts a recipient refused for being suppressed.
func (s *Suppression) Refused() {
	if s != nil {
		s.refused.Inc()
	}
}
