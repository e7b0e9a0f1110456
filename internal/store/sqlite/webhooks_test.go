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

// TestPutWithEvents: the message and its events in one transaction: both,
// or neither when the Put fails (here, an id already taken).
func TestPutWithEvents(t *testing.T) {
	s := openTest(t)
	now := testclock.New().Now()
	ep := webhooktest.Endpoint("wh_a", "", now)
	if err := s.CreateEndpoint(t.Context(), ep); err != nil {
		t.Fatal(err)
	}
	m := &queue.Message{ID: queue.NewID(now), Account: "shop1", From: "a@shop1.test",
		Recipients: []string{"b@gmail.test"}, Body: []byte("x"), Created: now, Expires: now.Add(time.Hour)}
	recs := []webhook.Record{{Event: webhooktest.Event("acc1", m.ID, "shop1", now), Targets: []string{"wh_a"}}}
	if err := s.PutWithEvents(t.Context(), m, recs); err != nil || recs[0].Event.Seq == 0 {
		t.Fatalf("PutWithEvents: %v, seq %d", err, recs[0].Event.Seq)
	}
	again := []webhook.Record{{Event: webhooktest.Event("acc2", m.ID, "shop1", now), Targets: []string{"wh_a"}}}
	if err := s.PutWithEvents(t.Context(), m, again); err == nil {
		t.Fatal("a second Put of the same id succeeded")
	}
	evs, _, _ := s.Feed(t.Context(), 0, "", 10, now)
	if len(evs) != 1 || evs[0].ID != "acc1" {
		t.Fatalf("feed %+v, want acc1 alone", evs)
	}
	if n, _ := s.Pending(t.Context()); n != 1 {
		t.Errorf("Pending = %d, want 1", n)
	}
	if _, err := s.GetMessage(t.Context(), m.ID); err != nil {
		t.Errorf("message: %v", err)
	}
}
