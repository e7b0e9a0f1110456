package sqlite

import (
	"reflect"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/testclock"
	"sendpool/internal/webhook"
	"sendpool/internal/webhook/webhooktest"
)

// TestWebhooks runs the webhook.Store conformance suite.
func TestWebhooks(t *testing.T) {
	webhooktest.Run(t, func(t *testing.T) webhooktest.Store { return openTest(t) })
}

// TestSettleAllAtStart: at a node's start every event still waiting for
// its message is decided at once: kept if the message is stored, gone if
// not, and the feed goes on without waiting SettleWithin.
func TestSettleAllAtStart(t *testing.T) {
	s := openTest(t)
	now := testclock.New().Now()
	stored, lost := queue.NewID(now), queue.NewID(now)
	var recs []webhook.Record
	for _, id := range []string{stored, lost} {
		ev := webhooktest.Event("acc-"+id, id, "shop1", now)
		ev.Type, ev.Commit = webhook.Accepted, id
		recs = append(recs, webhook.Record{Event: ev})
	}
	recs = append(recs, webhook.Record{Event: webhooktest.Event("later", "m", "shop1", now)})
	if err := s.Append(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	err := s.Put(t.Context(), &queue.Message{ID: stored, Account: "shop1", From: "a@shop1.test",
		Recipients: []string{"b@gmail.test"}, Body: []byte("x"), Created: now, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SettleAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	evs, _, err := s.Feed(t.Context(), 0, "", 10, now)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.ID)
	}
	if want := []string{"acc-" + stored, "later"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("feed after SettleAll: %v, want %v", ids, want)
	}
}
