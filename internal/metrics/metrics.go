// Package metrics holds sendpool's Prometheus metrics. Only cmd/sendpool
// imports it: the reusable packages report through small interfaces of their
// own, which *Metrics satisfies, so they never depend on Prometheus.
//
// A nil *Metrics is valid and records nothing, for tests and tools.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"sendpool/internal/queue"
)

// Metrics are the counters, histograms and gauges of one process.
type Metrics struct {
	accepted  *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	attempts  *prometheus.CounterVec
	duration  prometheus.Histogram
	suspended *prometheus.GaugeVec
	queue     *queueCollector
	lockouts  *prometheus.CounterVec // auth.go
	purged    prometheus.Counter     // purge.go
}

// New creates the metrics and registers them on reg (an explicit registry:
// the global one would tie every test in a process together). It panics if
// they are already registered there, like prometheus.MustRegister.
func New(reg *prometheus.Registry) *Metrics {
	m := &Metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendpool_messages_accepted_total",
			Help: "Messages accepted for delivery, by submission protocol (smtp, http).",
		}, []string{"protocol"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendpool_messages_rejected_total",
			Help: "Submissions refused, by reason (auth, sender, limit, spam, virus, size, …).",
		}, []string{"reason"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendpool_delivery_attempts_total",
			Help: "Delivery attempts, by verdict and source IP.",
		}, []string{"verdict", "source_ip"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sendpool_delivery_duration_seconds",
			Help: "Duration of one delivery attempt, connection included.",
			// From a reused connection (tens of ms) to a receiver that
			// stalls until the SMTP timeouts (minutes; RFC 5321 §4.5.3.2).
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
		suspended: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sendpool_ip_suspended",
			Help: "1 while a sending IP is suspended for a scope (pool or a provider), else 0.",
		}, []string{"ip", "scope"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendpool_auth_lockouts_total",
			Help: "Password-guessing lockouts begun, by scope (ip, account).",
		}, []string{"scope"}),
		queue: &queueCollector{desc: prometheus.NewDesc(
			"sendpool_queue_deliveries",
			"Deliveries (recipients) in the queue, by status.",
			[]string{"status"}, nil)},
	}
	m.purged = newPurged()
	reg.MustRegister(m.accepted, m.rejected, m.attempts, m.duration, m.suspended, m.queue, m.lockouts, m.purged)
	return m
}

// Accepted counts a message accepted over protocol ("smtp" or "http").
func (m *Metrics) Accepted(protocol string) {
	if m != nil {
		m.accepted.WithLabelValues(protocol).Inc()
	}
}

// Rejected counts a submission refused for reason.
func (m *Metrics) Rejected(reason string) {
	if m != nil {
		m.rejected.WithLabelValues(reason).Inc()
	}
}

// Attempt counts a delivery attempt from sourceIP that came to verdict and
// took d.
func (m *Metrics) Attempt(verdict, sourceIP string, d time.Duration) {
	if m != nil {
		m.attempts.WithLabelValues(verdict, sourceIP).Inc()
		m.duration.Observe(d.Seconds())
	}
}

// SetSuspended records whether ip is suspended for scope. A resumed IP keeps
// its series at 0 rather than vanishing, so alerts see it recover.
func (m *Metrics) SetSuspended(ip, scope string, on bool) {
	if m == nil {
		return
	}
	v := 0.0
	if on {
		v = 1
	}
	m.suspended.WithLabelValues(ip, scope).Set(v)
}

// SetQueueCounts sets where sendpool_queue_deliveries comes from. counts
// is a GROUP BY over every delivery, too dear to run per scrape (/metrics
// needs no token: a flood of scrapes would be a flood of queries), so it
// runs in one goroutine at a time and at most once per every; a scrape in
// between gets its last answer, and one that finds it older waits for a
// new one up to queueWait (then takes the old one). Until counts is set,
// and while it returns nil (the store failed), the gauge has no series: a
// gap, not a false zero.
func (m *Metrics) SetQueueCounts(counts func() map[queue.Status]int, every time.Duration) {
	if m != nil {
		m.queue.set(counts, every)
	}
}

// queueWait is how long a scrape waits for a new count of the queue.
const queueWait = time.Second

// queueCollector serves the queue's counts from the last count, counting
// again when it is older than every: nothing polls the store between
// scrapes, and scrapes never query more often than every.
type queueCollector struct {
	desc *prometheus.Desc

	mu       sync.Mutex
	counts   func() map[queue.Status]int
	every    time.Duration
	last     map[queue.Status]int
	at       time.Time     // of last; zero: never counted
	counting chan struct{} // closed when the count under way ends
}

func (c *queueCollector) set(counts func() map[queue.Status]int, every time.Duration) {
	c.mu.Lock()
	c.counts, c.every, c.last, c.at = counts, every, nil, time.Time{}
	c.mu.Unlock()
}

// get returns the counts, counting again if the last count is too old.
func (c *queueCollector) get() map[queue.Status]int {
	c.mu.Lock()
	if c.counts == nil {
		c.mu.Unlock()
		return nil
	}
	stale := c.at.IsZero() || time.Since(c.at) >= c.every
	if stale && c.counting == nil {
		c.counting = make(chan struct{})
		go c.count(c.counts, c.counting)
	}
	counting, last := c.counting, c.last
	c.mu.Unlock()
	if !stale || counting == nil {
		return last
	}
	t := time.NewTimer(queueWait)
	defer t.Stop()
	select {
	case <-counting:
	case <-t.C:
		return last
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *queueCollector) count(counts func() map[queue.Status]int, done chan struct{}) {
	got := counts()
	c.mu.Lock()
	c.last, c.at, c.counting = got, time.Now(), nil
	c.mu.Unlock()
	close(done)
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	got := c.get()
	if got == nil {
		return
	}
	// Every status always has a series, so a queue that empties reads 0.
	for _, st := range []queue.Status{queue.StatusQueued, queue.StatusDeferred, queue.StatusHeld, queue.StatusDelivered, queue.StatusBounced} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(got[st]), string(st))
	}
}
