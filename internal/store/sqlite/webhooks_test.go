package sqlite

import (
	"testing"

	"sendpool/internal/webhook/webhooktest"
)

// TestWebhooks runs the webhook.Store conformance suite.
func TestWebhooks(t *testing.T) {
	webhooktest.Run(t, func(t *testing.T) webhooktest.Store { return openTest(t) })
}
