package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"sendpool/internal/webhook"
)

// Webhook counts what the webhooks do (internal/webhook): events sent and
// failed by type, sends given up, endpoints disabled, events lost; and
// gauges of the outbox's depth and the endpoints disabled now.
type Webhook struct {
	sent     *prometheus.CounterVec
	failed   *prometheus.CounterVec
	gaveUp   prometheus.Counter
	disabled prometheus.Counter
	lost     prometheus.Counter
}

var _ webhook.Metrics = (*Webhook)(nil)

// NewWebhook registers the webhook metrics on reg. depth and disabled are
// read at each scrape: the sends not yet done (every node's) and the
// endpoints disabled now; -1 when they cannot be read.
func NewWebhook(reg prometheus.Registerer, depth, disabled func() int) *Webhook {
	w := &Webhook{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendpool_webhook_sent_total",
			Help: "Webhook requests an endpoint took (2xx), by event type.",
		}, []string{"type"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendpool_webhook_failed_total",
			Help: "Webhook requests that failed (no answer, or not 2xx), by event type; each is retried.",
		}, []string{"type"}),
		gaveUp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendpool_webhook_given_up_total",
			Help: "Webhook sends dropped after webhook.retry_for without success.",
		}),
		disabled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendpool_webhook_disabled_total",
			Help: "Webhook endpoints the breaker disabled (failing for webhook.disable_after, or 410 Gone).",
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendpool_webhook_events_lost_total",
			Help: "Events the store would not take within 30 seconds (logged one by one).",
		}),
	}
	reg.MustRegister(w.sent, w.failed, w.gaveUp, w.disabled, w.lost,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sendpool_webhook_outbox_depth",
			Help: "Webhook sends not yet done (all endpoints, every node's).",
		}, func() float64 { return float64(depth()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sendpool_webhook_endpoints_disabled",
			Help: "Webhook endpoints disabled now, until re-enabled through the API.",
		}, func() float64 { return float64(disabled()) }))
	return w
}

// Sent counts an event an endpoint took.
func (w *Webhook) Sent(t webhook.Type) {
	if w != nil {
		w.sent.WithLabelValues(string(t)).Inc()
	}
}

// Failed counts a failed request.
func (w *Webhook) Failed(t webhook.Type) {
	if w != nil {
		w.failed.WithLabelValues(string(t)).Inc()
	}
}

// GaveUp counts a send given up.
func (w *Webhook) GaveUp() {
	if w != nil {
		w.gaveUp.Inc()
	}
}

// Disabled counts an endpoint disabled by the breaker.
func (w *Webhook) Disabled() {
	if w != nil {
		w.disabled.Inc()
	}
}

// Lost counts events the store did not take.
func (w *Webhook) Lost(n int) {
	if w != nil {
		w.lost.Add(float64(n))
	}
}
