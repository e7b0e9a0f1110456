package metrics

import "github.com/prometheus/client_golang/prometheus"

func newPurged() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sendpool_purged_messages_total",
		Help: "Finished messages deleted by this node once older than store.retention.",
	})
}

// Purged counts n finished messages deleted by the retention janitor
// (queue.JanitorConfig.OnPurged).
func (m *Metrics) Purged(n int) {
	if m != nil {
		m.purged.Add(float64(n))
	}
}
