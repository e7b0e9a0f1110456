package config

import (
	"strings"
	"testing"
	"time"
)

// TestWebhookDefaultsAndErrors: [webhook] has working defaults, takes its
// keys, and every bad value is named by its key path.
func TestWebhookDefaultsAndErrors(t *testing.T) {
	w := Default().Webhook
	if w.Retention.D() != 7*24*time.Hour || w.RetryFor.D() != 72*time.Hour || w.DisableAfter.D() != 24*time.Hour ||
		w.Timeout.D() != 10*time.Second || w.Concurrency < 1 || len(w.Retry) == 0 {
		t.Errorf("defaults %+v", w)
	}
	c, err := Parse("[webhook]\nretention = \"96h\"\nretry = [\"1s\", \"1m\"]\nconcurrency = 2\ndns_check_interval = \"0s\"\n")
	if err != nil || c.Webhook.Retention.D() != 96*time.Hour || len(c.Webhook.Retry) != 2 ||
		c.Webhook.Concurrency != 2 || c.Webhook.DNSCheckInterval != 0 {
		t.Fatalf("parsed %+v, %v", c, err)
	}
	for text, key := range map[string]string{
		"retention = \"24h\"":    "webhook.retention:",
		"timeout = \"0s\"":       "webhook.timeout:",
		"timeout = \"5m\"":       "webhook.timeout:",
		"retry = []":             "webhook.retry:",
		"retry = [\"-1s\"]":      "webhook.retry[0]:",
		"concurrency = 0":        "webhook.concurrency:",
		"disable_after = \"0s\"": "webhook.disable_after:",
		"secret = \"x\"":         "webhook.secret: unknown key",
	} {
		if _, err := Parse("[webhook]\n" + text + "\n"); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: err %v, want one naming %s", text, err, key)
		}
	}
}
