package webhook_test

import (
	"testing"

	"sendpool/internal/queue"
	"sendpool/internal/webhook"
)

// TestHeaderIDFromLease: a delivery event names the Message-ID its lease
// carries (queue.Lease.HeaderID) without reading the message, which a
// node delivering what another accepted would otherwise do once per
// message; here the store has no such message, so only the lease can name
// it. A lease without one is answered from the store (TestTwoNodesOneStore).
func TestHeaderIDFromLease(t *testing.T) {
	f := newFixture(t, nil)
	rc := newReceiver(t)
	f.endpoint(rc.url(), "", webhook.Delivered)
	id := queue.NewID(f.clock.Now())
	f.leaseOutcome(&queue.Lease{Delivery: queue.Delivery{ID: id + "/0", MessageID: id, Recipient: "bob@gmail.test",
		Domain: "gmail.test"}, Account: "shop1", From: "sender@shop1.test", HeaderID: "lease@shop1.test"},
		queue.StatusDelivered, "250 ok")
	eventually(t, "the delivered event", func() bool { return len(rc.delivered()) == 1 })
	if got := rc.requests()[0].Event.HeaderMessageID; got != "lease@shop1.test" {
		t.Errorf("header_message_id = %q, want the lease's", got)
	}
}
