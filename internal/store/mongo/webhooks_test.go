package mongo

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"sendpool/internal/testclock"
	"sendpool/internal/testenv"
	"sendpool/internal/webhook"
	"sendpool/internal/webhook/webhooktest"
)

// TestWebhooks runs the webhook.Store conformance suite.
func TestWebhooks(t *testing.T) {
	webhooktest.Run(t, func(t *testing.T) webhooktest.Store { return openTest(t, Options{}) })
}

// openPair opens two stores on one database: two nodes.
func openPair(t *testing.T) (*Store, *Store) {
	t.Helper()
	a := openTest(t, Options{})
	return a, openSecond(t, a)
}

// TestWebhookSeqsTwoNodes: two nodes appending at once hand out distinct
// seqs, and a reader following the feed meanwhile reads every event once.
// The sends one node writes go with its own events only: node a's events
// (shop1's) go to shop1's endpoint, node b's (shop2's) to none, and the
// endpoint's sends are all of shop1's events, each once.
func TestWebhookSeqsTwoNodes(t *testing.T) {
	a, b := openPair(t)
	now := testclock.New().Now()
	if err := a.CreateEndpoint(t.Context(), webhooktest.Endpoint("wh_x", "shop1", now)); err != nil {
		t.Fatal(err)
	}
	const per = 20
	var wg sync.WaitGroup
	for n, s := range []*Store{a, b, a, b} {
		acct, targets := "shop1", []string{"wh_x"}
		if s == b {
			acct, targets = "shop2", nil
		}
		wg.Go(func() {
			for i := range per {
				id := fmt.Sprintf("n%d_%d", n, i)
				if err := s.Append(t.Context(), []webhook.Record{{Event: webhooktest.Event(id, id, acct, now), Targets: targets}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	seen := map[string]int{}
	after := int64(0)
	deadline := time.Now().Add(time.Minute)
	for len(seen) < 4*per && time.Now().Before(deadline) {
		evs, next, err := b.Feed(t.Context(), after, "", 5, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			seen[ev.ID]++
		}
		after = next
	}
	wg.Wait()
	if len(seen) != 4*per {
		t.Fatalf("read %d distinct events, want %d", len(seen), 4*per)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s read %d times", id, k)
		}
	}
	sends, err := a.Claim(t.Context(), "n1", now, time.Minute, map[string]int{"wh_x": 1000})
	if err != nil {
		t.Fatal(err)
	}
	claimed := map[string]int{}
	for _, sd := range sends {
		claimed[sd.Event.ID]++
		if sd.Event.Account != "shop1" {
			t.Errorf("shop1's endpoint has a send of %s's event %s", sd.Event.Account, sd.Event.ID)
		}
	}
	if len(claimed) != 2*per || len(sends) != 2*per {
		t.Errorf("%d sends of %d events to shop1's endpoint, want %d", len(sends), len(claimed), 2*per)
	}
}

// TestWebhookRepairAfterCrash: an append cut short after its marker (and
// its sends) holds the feed at its seq; once SettleWithin has passed the
// reader there voids the seq, and the feed and the senders go on.
func TestWebhookRepairAfterCrash(t *testing.T) {
	s := openTest(t, Options{})
	now := testclock.New().Now()
	mustOK := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustOK(s.CreateEndpoint(t.Context(), webhooktest.Endpoint("wh_a", "", now)))
	mustOK(s.Append(t.Context(), []webhook.Record{{Event: webhooktest.Event("e1", "m1", "shop1", now), Targets: []string{"wh_a"}}}))
	// The crashed node's append: its marker at seq 2 and a send, no event.
	_, err := s.hooks.marks.InsertOne(t.Context(), bson.M{"_id": seqKey(2), "t": ms(now)})
	mustOK(err)
	_, err = s.hooks.sends.InsertOne(t.Context(), hookSendDoc{ID: hookSendID("wh_a", 2), Endpoint: "wh_a", Seq: 2,
		Key: "m2", Time: ms(now), Next: ms(now)})
	mustOK(err)
	// Another node goes on (it knows seq 1 only).
	other := openSecond(t, s)
	mustOK(other.Append(t.Context(), []webhook.Record{{Event: webhooktest.Event("e3", "m3", "shop1", now), Targets: []string{"wh_a"}}}))

	ids := func(at time.Time) []string {
		evs, _, err := s.Feed(t.Context(), 0, "", 10, at)
		mustOK(err)
		var out []string
		for _, ev := range evs {
			out = append(out, ev.ID)
		}
		return out
	}
	if got := ids(now); !reflect.DeepEqual(got, []string{"e1"}) {
		t.Fatalf("feed with an append in flight: %v, want [e1]", got)
	}
	if got := ids(now.Add(webhook.SettleWithin - time.Second)); !reflect.DeepEqual(got, []string{"e1"}) {
		t.Fatalf("voided too early: %v", got)
	}
	later := now.Add(webhook.SettleWithin + time.Second)
	if got := ids(later); !reflect.DeepEqual(got, []string{"e1", "e3"}) {
		t.Fatalf("feed once the append cannot be in flight: %v, want [e1 e3]", got)
	}
	// The other node's event took seq 3: it stepped over the marker.
	evs, _, err := s.Feed(t.Context(), 0, "", 10, later)
	mustOK(err)
	if evs[1].Seq != 3 {
		t.Errorf("e3 at seq %d, want 3", evs[1].Seq)
	}
	sends, err := s.Claim(t.Context(), "n1", later, time.Minute, map[string]int{"wh_a": 10})
	mustOK(err)
	var got []string
	for _, sd := range sends {
		got = append(got, sd.Event.ID)
	}
	if !reflect.DeepEqual(got, []string{"e1", "e3"}) {
		t.Fatalf("claimed %v, want e1 and e3", got)
	}
	if n, _ := s.Pending(t.Context()); n != 2 {
		t.Errorf("Pending = %d, want 2 (the void's send dropped)", n)
	}
}

// openSecond opens another store on s's database.
func openSecond(t *testing.T, s *Store) *Store {
	t.Helper()
	b, err := Open(t.Context(), testenv.MongoDB(t), Options{Database: s.db.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
