package config

import (
	"fmt"
	"time"
)

// Webhook is the events out (internal/webhook): signed POSTs to the
// endpoints registered through the API, and the feed.
type Webhook struct {
	// Retention is how long events stay in the outbox, for the feed
	// (GET /api/v1/feed); at least RetryFor.
	Retention Duration `toml:"retention"`
	// Timeout bounds one request to an endpoint, answer included.
	Timeout Duration `toml:"timeout"`
	// Retry is the schedule of retries after a failure (its last step
	// repeats), each step ±20%, until RetryFor after the event.
	Retry []Duration `toml:"retry"`
	// RetryFor is how long an event is retried before it is given up
	// (72 hours, as Standard Webhooks senders do).
	RetryFor Duration `toml:"retry_for"`
	// DisableAfter: an endpoint failing without a success for this long is
	// disabled (410 Gone disables at once) until re-enabled through the API.
	DisableAfter Duration `toml:"disable_after"`
	// RotateGrace is how long a rotated-out secret still signs beside the new.
	RotateGrace Duration `toml:"rotate_grace"`
	// Concurrency is how many requests a node has in flight to one endpoint.
	Concurrency int `toml:"concurrency"`
	// DNSCheckInterval is how often every sending domain's records are
	// checked for domain_dns_error events; "0s" turns the checks off.
	DNSCheckInterval Duration `toml:"dns_check_interval"`
}

// Fixed webhook timings: how often a node looks at the outbox when nothing
// wakes it, how long a claim on a send lasts (well over any timeout), how
// long a node keeps its list of endpoints (changes through another node's
// API reach it within that), how often crash leftovers are repaired and old
// sends and events swept (in batches), and how often one domain's same DNS
// failure is told again.
const (
	WebhookPoll           = time.Second
	WebhookLeaseFor       = 2 * time.Minute
	WebhookEndpointCache  = 5 * time.Second
	WebhookRepairInterval = 30 * time.Second
	WebhookSweepInterval  = 5 * time.Minute
	WebhookSweepBatch     = 1000
	WebhookDNSRepeat      = 24 * time.Hour
)

func defaultWebhook() Webhook {
	return Webhook{
		Retention: Duration(7 * 24 * time.Hour),
		Timeout:   Duration(10 * time.Second),
		Retry: []Duration{
			Duration(5 * time.Second), Duration(30 * time.Second), Duration(2 * time.Minute),
			Duration(10 * time.Minute), Duration(30 * time.Minute), Duration(time.Hour),
			Duration(2 * time.Hour), Duration(4 * time.Hour),
		},
		RetryFor:         Duration(72 * time.Hour),
		DisableAfter:     Duration(24 * time.Hour),
		RotateGrace:      Duration(24 * time.Hour),
		Concurrency:      4,
		DNSCheckInterval: Duration(6 * time.Hour),
	}
}

// validateWebhook checks [webhook].
func (c *Config) validateWebhook(bad func(key, format string, args ...any)) {
	w := c.Webhook
	for _, d := range []struct {
		key string
		v   Duration
	}{{"webhook.retention", w.Retention}, {"webhook.timeout", w.Timeout}, {"webhook.retry_for", w.RetryFor},
		{"webhook.disable_after", w.DisableAfter}, {"webhook.rotate_grace", w.RotateGrace}} {
		if d.v <= 0 {
			bad(d.key, "must be positive")
		}
	}
	if w.Timeout.D() > WebhookLeaseFor/2 {
		bad("webhook.timeout", "at most %s: a request must end well within its claim", WebhookLeaseFor/2)
	}
	if w.Retention > 0 && w.Retention < w.RetryFor {
		bad("webhook.retention", "must be at least webhook.retry_for (%s): an event is kept while it is retried", w.RetryFor.D())
	}
	if len(w.Retry) == 0 {
		bad("webhook.retry", "needs at least one step")
	}
	for i, d := range w.Retry {
		if d <= 0 {
			bad(fmt.Sprintf("webhook.retry[%d]", i), "must be positive")
		}
	}
	if w.Concurrency < 1 {
		bad("webhook.concurrency", "must be at least 1")
	}
	if w.DNSCheckInterval < 0 {
		bad("webhook.dns_check_interval", "must not be negative (\"0s\" turns the checks off)")
	}
}
