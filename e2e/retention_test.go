package e2e

import (
	"context"
	"testing"
	"time"

	"sendpool/internal/apiclient"
	"sendpool/internal/queue"
)

// TestRetentionPurgesFinished: with store.retention = "1s", a delivered
// message is deleted by the node's janitor (which sweeps when the node
// starts: here its second start) and counted in
// sendpool_purged_messages_total; a deferred one of the same age stays.
func TestRetentionPurgesFinished(t *testing.T) {
	e := newEnv(t, map[string]string{"ok.test": "127.0.0.31", "down.test": "127.0.0.32"},
		"[store]\nretention = \"1s\"\n")
	e.world.Sink("down.test").Close() // connection refused: deferred
	p := e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	for _, to := range []string{"user@ok.test", "user@down.test"} {
		if err := submit(e.smtp, "shop1", "pw-shop1-secret", "s@shop1.test", []string{to}, message("s@shop1.test", to, to)); err != nil {
			t.Fatalf("submit to %s: %v", to, err)
		}
	}
	list := func(st queue.Status) []queue.MessageSummary {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ms, err := e.api().Messages(ctx, queue.Filter{Status: st})
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	waitFor(t, 30*time.Second, "one delivered, one deferred", func() bool {
		return len(list(queue.StatusDelivered)) == 1 && len(list(queue.StatusDeferred)) == 1
	})
	delivered := list(queue.StatusDelivered)[0].ID
	deferred := list(queue.StatusDeferred)[0].ID
	time.Sleep(1100 * time.Millisecond) // past the retention

	p.kill()
	e.serve()
	waitFor(t, 30*time.Second, "the delivered message purged", func() bool {
		return e.metric("sendpool_purged_messages_total") == "sendpool_purged_messages_total 1"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.api().Message(ctx, delivered); !apiclient.IsNotFound(err) {
		t.Errorf("delivered message %s after the purge: %v; want 404", delivered, err)
	}
	if d, err := e.api().Message(ctx, deferred); err != nil || d.Status != queue.StatusDeferred {
		t.Errorf("deferred message %s after the purge: %v, %v; want it kept, deferred", deferred, d, err)
	}
}
