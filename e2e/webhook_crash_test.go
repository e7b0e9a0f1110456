package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
)

// TestWebhookKill9: the node is killed with SIGKILL twice while messages
// come in and go out (a receiver that answers each message after a
// while, so deliveries are always in flight): afterwards every message the
// store holds has its accepted event in the feed, and every one delivered
// its delivered event. Message events are written before the state change
// they report, so no kill between the two can leave a change without its
// event.
func TestWebhookKill9(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"slow.test": "127.0.0.21"}, `retry = ["1s"]`)
	slow := e.world.Sink("slow.test")
	slow.SetRules(sandbox.Rule{Stage: sandbox.StageEOD, Delay: 50 * time.Millisecond})
	p := e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("k%d-%03d", w, i)
				// Refused or cut off while the node is down: the client
				// tries again later, as an MTA does; no matter here.
				if submit(e.smtp, "shop1", "pw-shop1-secret", "s@shop1.test", []string{"user@slow.test"},
					message("s@shop1.test", "user@slow.test", id)) != nil {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	for range 2 {
		time.Sleep(time.Duration(700+rand.IntN(600)) * time.Millisecond)
		p.kill()
		p = e.serve()
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	var msgs []queue.MessageSummary
	waitFor(t, 60*time.Second, "every message delivered", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		msgs, err = e.api().Messages(ctx, queue.Filter{Limit: 1000})
		if err != nil {
			return false
		}
		for _, m := range msgs {
			if m.Status != queue.StatusDelivered {
				return false
			}
		}
		return len(msgs) > 0
	})
	events := map[string]map[string]bool{} // message id → types
	after := ""
	for {
		page, err := e.api().Feed(context.Background(), after, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range page.Events {
			var ev struct {
				Type      string `json:"type"`
				MessageID string `json:"message_id"`
			}
			json.Unmarshal(raw, &ev)
			if events[ev.MessageID] == nil {
				events[ev.MessageID] = map[string]bool{}
			}
			events[ev.MessageID][ev.Type] = true
		}
		if len(page.Events) == 0 {
			break
		}
		after = page.Next
	}
	for _, m := range msgs {
		for _, typ := range []string{"accepted", "delivered"} {
			if !events[m.ID][typ] {
				t.Errorf("message %s: no %s event", m.ID, typ)
			}
		}
	}
	t.Logf("%d messages across two kills, %d delivered by the sink", len(msgs), len(slow.Messages()))
}
