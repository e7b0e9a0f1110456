package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/webhook"
)

// TestBreakerTripsAfterDisableAfter: an endpoint that fails without a
// success is marked failing at the first failure and disabled once
// disable_after has passed on the clock, not before; the reason says since
// when and what it answered, the other global endpoints hear of it
// (webhook_disabled), and its sends wait for a re-enable.
func TestBreakerTripsAfterDisableAfter(t *testing.T) {
	bad, other := newReceiver(t), newReceiver(t)
	bad.setRespond(func(int, request) (int, time.Duration) { return http.StatusServiceUnavailable, 0 })
	f := newFixture(t, nil)
	e, _ := f.endpoint(bad.url(), "")
	f.endpoint(other.url(), "")
	start := f.clock.Now()
	f.em.Held(context.Background(), "shop1", "bounces")
	eventually(t, "the first failure", func() bool {
		got, _ := f.svc.Get(context.Background(), e.ID)
		return got.FailingSince.Equal(start)
	})

	// 23 hours of failures later: failing, not disabled.
	f.clock.Add(23 * time.Hour)
	f.sender.Wake()
	eventually(t, "another attempt", func() bool { return len(bad.requests()) >= 2 })
	time.Sleep(50 * time.Millisecond)
	if got, _ := f.svc.Get(context.Background(), e.ID); got.Disabled {
		t.Fatalf("disabled after 23h: %+v", got.Health)
	}

	f.clock.Add(time.Hour + time.Second)
	f.sender.Wake()
	eventually(t, "the breaker", func() bool {
		got, _ := f.svc.Get(context.Background(), e.ID)
		return got.Disabled
	})
	got, _ := f.svc.Get(context.Background(), e.ID)
	if !got.FailingSince.Equal(start) || !strings.Contains(got.Reason, "failing since") ||
		!strings.Contains(got.Reason, "503") || got.DisabledAt.Before(start.Add(24*time.Hour)) {
		t.Errorf("disabled endpoint: %+v", got.Health)
	}
	eventually(t, "webhook_disabled at the other endpoint", func() bool {
		for _, r := range other.requests() {
			if r.Event.Type == webhook.Disabled && r.Event.Webhook == e.ID && r.Event.Reason == got.Reason {
				return true
			}
		}
		return false
	})
	// Counted before the event was made (Sender.disable), after the
	// endpoint was stored disabled: checked once the event arrived.
	if f.metrics.get().disabled != 1 {
		t.Errorf("disabled metric %d", f.metrics.get().disabled)
	}

	// Disabled: nothing more goes to it, however long; re-enabled and
	// answering, what waited goes.
	n := len(bad.requests())
	f.clock.Add(time.Hour)
	f.sender.Wake()
	time.Sleep(100 * time.Millisecond)
	if len(bad.requests()) != n {
		t.Fatalf("a disabled endpoint got %d more requests", len(bad.requests())-n)
	}
	bad.setRespond(func(int, request) (int, time.Duration) { return http.StatusNoContent, 0 })
	if _, err := f.svc.Enable(context.Background(), e.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the held event and the breaker's, once enabled", func() bool { return len(bad.delivered()) == 2 })
	if got, _ := f.svc.Get(context.Background(), e.ID); got.Health != (webhook.Health{}) {
		t.Errorf("after a success: %+v", got.Health)
	}
}

// TestGiveUpAfterRetryFor: a send still failing retry_for after its event
// is dropped and counted, and the line behind it moves on.
func TestGiveUpAfterRetryFor(t *testing.T) {
	rc := newReceiver(t)
	f := newFixture(t, func(c *webhook.SenderConfig) { c.DisableAfter = 1000 * time.Hour })
	f.endpoint(rc.url(), "")
	rc.setRespond(func(n int, r request) (int, time.Duration) {
		if r.Event.Type == webhook.Accepted {
			return http.StatusBadGateway, 0
		}
		return http.StatusOK, 0
	})
	id := f.message("shop1", "x@shop1.test")
	f.outcome(id, "shop1", queue.StatusDelivered, "250 ok")
	eventually(t, "a failure", func() bool { return len(rc.requests()) == 1 })
	f.clock.Add(72 * time.Hour)
	f.sender.Wake()
	eventually(t, "the delivered event, behind the one given up", func() bool { return len(rc.delivered()) == 1 })
	if c := f.metrics.get(); c.gaveUp != 1 {
		t.Errorf("given up %d", c.gaveUp)
	}
	if r := rc.requests(); r[len(r)-1].Event.Type != webhook.Delivered {
		t.Errorf("last request %s", r[len(r)-1].Event.Type)
	}
}

// failingQueue is a queue whose Put fails, as a store that is down.
type failingQueue struct{ queue.Store }

func (failingQueue) Put(context.Context, *queue.Message) error { return errors.New("disk full") }

// TestAcceptedOnlyOnceStored: the accepted event is written before Put
// (so no crash after Put can lose it), but counts only once the message is
// stored: when Put fails, it is neither sent nor in the feed, and later
// events are not held behind it for longer than Put could take.
func TestAcceptedOnlyOnceStored(t *testing.T) {
	rc := newReceiver(t)
	f := newFixture(t, nil)
	f.endpoint(rc.url(), "")
	m := &queue.Message{Account: "shop1", From: "a@shop1.test", Recipients: []string{"b@gmail.test"},
		Body: []byte("x"), Created: f.clock.Now(), Expires: f.clock.Now().Add(time.Hour)}
	if err := f.em.Queue(failingQueue{f.store}).Put(context.Background(), m); err == nil {
		t.Fatal("Put through a failing queue succeeded")
	}
	f.em.Held(context.Background(), "shop1", "bounces")
	time.Sleep(100 * time.Millisecond)
	evs, _, _ := f.svc.Feed(context.Background(), 0, "", 10)
	if len(evs) != 0 {
		t.Fatalf("feed while Put may be in flight: %d events", len(evs))
	}
	f.clock.Add(webhook.SettleWithin + time.Second)
	evs, _, _ = f.svc.Feed(context.Background(), 0, "", 10)
	if len(evs) != 1 || evs[0].Type != webhook.AccountHeld {
		t.Fatalf("feed once Put cannot be in flight: %+v", evs)
	}
	f.sender.Wake()
	eventually(t, "the hold", func() bool { return len(rc.delivered()) == 1 })
	time.Sleep(50 * time.Millisecond)
	for _, r := range rc.requests() {
		if r.Event.Type == webhook.Accepted {
			t.Errorf("accepted sent for a message never stored: %+v", r.Event)
		}
	}
}
