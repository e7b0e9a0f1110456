package webhooktest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/webhook"
)

// testCommit: an event written before its message's Put is neither in the
// feed (which stops there, later events too) nor claimable until the
// message is stored; then it is both, in its place.
func testCommit(t *testing.T, s Store, now time.Time) {
	mustCreate(t, s, Endpoint("wh_a", "", now))
	msgID := queue.NewID(now)
	acc := Event("acc", msgID, "shop1", now)
	acc.Type, acc.Commit = webhook.Accepted, msgID
	mustAppend(t, s, []string{"wh_a"}, Event("before", "m0", "shop1", now))
	mustAppend(t, s, []string{"wh_a"}, acc)
	mustAppend(t, s, []string{"wh_a"}, Event("after", "m2", "shop1", now))

	if got, _ := feedIDs(t, s, 0, "", 10, now); !reflect.DeepEqual(got, []string{"before"}) {
		t.Fatalf("feed before the message is stored: %v, want [before]", got)
	}
	if _, got := claimIDs(t, s, "n1", now, map[string]int{"wh_a": 10}); !sameSet(got, []string{"wh_a:before", "wh_a:after"}) {
		t.Fatalf("claimed before the message is stored: %v", got)
	}
	err := s.Put(t.Context(), &queue.Message{ID: msgID, Account: "shop1", From: "a@shop1.test",
		Recipients: []string{"b@gmail.test"}, Body: []byte("Subject: x\r\n\r\nx\r\n"), Created: now, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := feedIDs(t, s, 0, "", 10, now); !reflect.DeepEqual(got, []string{"before", "acc", "after"}) {
		t.Fatalf("feed once stored: %v", got)
	}
	sends, got := claimIDs(t, s, "n1", now, map[string]int{"wh_a": 10})
	if !reflect.DeepEqual(got, []string{"wh_a:acc"}) || sends[0].Event.Commit != "" {
		t.Fatalf("claimed once stored: %v (%+v)", got, sends)
	}
}

// testCommitVoid: a message that never comes voids its event once
// SettleWithin has passed: the feed goes on past it, nobody gets it.
func testCommitVoid(t *testing.T, s Store, now time.Time) {
	mustCreate(t, s, Endpoint("wh_a", "", now))
	acc := Event("acc", "m1", "shop1", now)
	acc.Type, acc.Commit = webhook.Accepted, queue.NewID(now)
	mustAppend(t, s, []string{"wh_a"}, acc, Event("after", "m2", "shop1", now))
	later := now.Add(webhook.SettleWithin + time.Second)
	if got, _ := feedIDs(t, s, 0, "", 10, later); !reflect.DeepEqual(got, []string{"after"}) {
		t.Fatalf("feed: %v, want [after]", got)
	}
	if err := s.Repair(t.Context(), later); err != nil {
		t.Fatal(err)
	}
	if _, got := claimIDs(t, s, "n1", later, map[string]int{"wh_a": 10}); !reflect.DeepEqual(got, []string{"wh_a:after"}) {
		t.Fatalf("claimed: %v, want only after", got)
	}
	if n, err := s.Pending(t.Context()); err != nil || n != 1 {
		t.Errorf("Pending = %d, %v; want 1 (the void event's send gone)", n, err)
	}
}

// testClaimOrder: of one key's events only the oldest still pending is
// claimable; the next comes once it is done, whatever its own due time.
func testClaimOrder(t *testing.T, s Store, now time.Time) {
	mustCreate(t, s, Endpoint("wh_a", "", now), Endpoint("wh_b", "", now))
	mustAppend(t, s, []string{"wh_a", "wh_b"}, Event("k1", "K", "shop1", now), Event("k2", "K", "shop1", now),
		Event("l1", "L", "shop1", now))
	sends, got := claimIDs(t, s, "n1", now, map[string]int{"wh_a": 10})
	if !sameSet(got, []string{"wh_a:k1", "wh_a:l1"}) {
		t.Fatalf("first claim: %v, want k1 and l1 of wh_a", got)
	}
	for _, sd := range sends {
		if sd.Event.ID == "k1" {
			if sd.Attempts != 0 || sd.Owner != "n1" || string(sd.Event.Body) == "" || sd.ID == "" {
				t.Errorf("claimed send %+v", sd)
			}
			if err := s.Finish(t.Context(), &sd, webhook.Outcome{Done: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, got := claimIDs(t, s, "n1", now, map[string]int{"wh_a": 10}); !reflect.DeepEqual(got, []string{"wh_a:k2"}) {
		t.Fatalf("after k1 done: %v, want k2", got)
	}
	// wh_b's line is its own.
	if _, got := claimIDs(t, s, "n1", now, map[string]int{"wh_b": 10}); !sameSet(got, []string{"wh_b:k1", "wh_b:l1"}) {
		t.Fatalf("wh_b: %v", got)
	}
}

func testClaimRoom(t *testing.T, s Store, now time.Time) {
	mustCreate(t, s, Endpoint("wh_a", "", now), Endpoint("wh_b", "", now))
	var evs []webhook.Event
	for i := range 5 {
		evs = append(evs, Event(fmt.Sprint("e", i), fmt.Sprint("m", i), "shop1", now))
	}
	mustAppend(t, s, []string{"wh_a", "wh_b"}, evs...)
	_, got := claimIDs(t, s, "n1", now, map[string]int{"wh_a": 2, "wh_b": 0})
	if !reflect.DeepEqual(got, []string{"wh_a:e0", "wh_a:e1"}) {
		t.Fatalf("room 2 for wh_a, 0 for wh_b: %v; want the two oldest of wh_a", got)
	}
	if _, got := claimIDs(t, s, "n1", now, map[string]int{}); len(got) != 0 {
		t.Fatalf("no room: %v", got)
	}
	if _, got := claimIDs(t, s, "n1", now, map[string]int{"wh_b": 10}); len(got) != 5 {
		t.Fatalf("wh_b: %v", got)
	}
}

// testClaimExclusive: claimants racing for the same sends each get a
// disjoint share, and together all of them.
func testClaimExclusive(t *testing.T, s Store, now time.Time) {
	mustCreate(t, s, Endpoint("wh_a", "", now))
	const n = 40
	var evs []webhook.Event
	for i := range n {
		evs = append(evs, Event(fmt.Sprint("e", i), fmt.Sprint("m", i), "shop1", now))
	}
	mustAppend(t, s, []string{"wh_a"}, evs...)
	var mu sync.Mutex
	count := map[string]int{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for range 4 {
				sends, err := s.Claim(t.Context(), fmt.Sprint("node", w), now, time.Minute, map[string]int{"wh_a": 5})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, sd := range sends {
					count[sd.Event.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, ev := range evs {
		if count[ev.ID] > 1 {
			t.Errorf("%s claimed %d times at once", ev.ID, count[ev.ID])
		}
	}
	if len(count) != n {
		// 6×4 rounds of 5 is room for all 40; a claimant that lost a race
		// may come back empty-handed, so only the total is checked loosely.
		_, rest := claimIDs(t, s, "late", now, map[string]int{"wh_a": n})
		if len(count)+len(rest) != n {
			t.Errorf("claimed %d, then %d more; want %d in all", len(count), len(rest), n)
		}
	}
}

// testLease: a claim keeps others off until it expires; then another
// claimant takes it, and the first one's Finish is refused.
func testLease(t *testing.T, s Store, now time.Time) {
	mustCreate(t, s, Endpoint("wh_a", "", now))
	mustAppend(t, s, []string{"wh_a"}, Event("e1", "m1", "shop1", now))
	first, got := claimIDs(t, s, "n1", now, map[string]int{"wh_a": 1})
	if len(got) != 1 {
		t.Fatalf("first claim: %v", got)
	}
	if _, got := claimIDs(t, s, "n2", now.Add(59*time.Second), map[string]int{"wh_a": 1}); len(got) != 0 {
		t.Fatalf("claimed again within the lease: %v", got)
	}
	second, got := claimIDs(t, s, "n2", now.Add(61*time.Second), map[string]int{"wh_a": 1})
	if len(got) != 1 || second[0].Attempts != 0 {
		t.Fatalf("after the lease: %v (%+v)", got, second)
	}
	if err := s.Finish(t.Context(), &first[0], webhook.Outcome{Done: true}); !errors.Is(err, webhook.ErrLeaseLost) {
		t.Fatalf("stale Finish: %v, want ErrLeaseLost", err)
	}
	if err := s.Finish(t.Context(), &second[0], webhook.Outcome{Done: true}); err != nil {
		t.Fatalf("current Finish: %v", err)
	}
	if n, err := s.Pending(t.Context()); err != nil || n != 0 {
		t.Errorf("Pending = %d, %v", n, err)
	}
}

func testRetry(t *testing.T, s Store, now time.Time) {
	mustCreate(t, s, Endpoint("wh_a", "", now))
	mustAppend(t, s, []string{"wh_a"}, Event("e1", "m1", "shop1", now), Event("e2", "m1", "shop1", now))
	sends, _ := claimIDs(t, s, "n1", now, map[string]int{"wh_a": 5})
	if len(sends) != 1 {
		t.Fatalf("claimed %d", len(sends))
	}
	next := now.Add(30 * time.Second)
	if err := s.Finish(t.Context(), &sends[0], webhook.Outcome{Next: next}); err != nil {
		t.Fatal(err)
	}
	// Not due before next, and e2 still waits behind it.
	if _, got := claimIDs(t, s, "n1", now.Add(29*time.Second), map[string]int{"wh_a": 5}); len(got) != 0 {
		t.Fatalf("claimed before its retry: %v", got)
	}
	sends, got := claimIDs(t, s, "n2", next, map[string]int{"wh_a": 5})
	if !reflect.DeepEqual(got, []string{"wh_a:e1"}) || sends[0].Attempts != 1 {
		t.Fatalf("retry: %v %+v", got, sends)
	}
}

func testDeleteEndpoint(t *testing.T, s Store, now time.Time) {
	mustCreate(t, s, Endpoint("wh_a", "", now), Endpoint("wh_b", "", now))
	mustAppend(t, s, []string{"wh_a", "wh_b"}, Event("e1", "m1", "shop1", now))
	if err := s.DeleteEndpoint(t.Context(), "wh_a"); err != nil {
		t.Fatal(err)
	}
	// An append that still names it (a node's list is a little behind)
	// gives it nothing.
	mustAppend(t, s, []string{"wh_a", "wh_b"}, Event("e2", "m2", "shop1", now))
	if n, err := s.Pending(t.Context()); err != nil || n != 2 {
		t.Fatalf("Pending = %d, %v; want wh_b's 2", n, err)
	}
	if _, got := claimIDs(t, s, "n1", now, map[string]int{"wh_a": 5, "wh_b": 5}); !sameSet(got, []string{"wh_b:e1", "wh_b:e2"}) {
		t.Fatalf("claimed %v", got)
	}
}

func testPurge(t *testing.T, s Store, now time.Time) {
	mustCreate(t, s, Endpoint("wh_a", "", now))
	old := now.Add(-80 * time.Hour)
	mustAppend(t, s, []string{"wh_a"}, Event("old1", "m1", "shop1", old), Event("old2", "m2", "shop1", old.Add(time.Second)),
		Event("new1", "m3", "shop1", now))
	if n, err := s.Pending(t.Context()); err != nil || n != 3 {
		t.Fatalf("Pending = %d, %v", n, err)
	}
	if n, err := s.GiveUp(t.Context(), now.Add(-72*time.Hour), 1); err != nil || n != 1 {
		t.Fatalf("GiveUp(limit 1) = %d, %v", n, err)
	}
	if n, err := s.GiveUp(t.Context(), now.Add(-72*time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("GiveUp = %d, %v", n, err)
	}
	if _, got := claimIDs(t, s, "n1", now, map[string]int{"wh_a": 5}); !reflect.DeepEqual(got, []string{"wh_a:new1"}) {
		t.Fatalf("after GiveUp: %v", got)
	}
	// The feed keeps given-up events until retention.
	if got, _ := feedIDs(t, s, 0, "", 10, now); len(got) != 3 {
		t.Fatalf("feed: %v", got)
	}
	if n, err := s.PurgeEvents(t.Context(), now.Add(-time.Hour), 10); err != nil || n != 2 {
		t.Fatalf("PurgeEvents = %d, %v", n, err)
	}
	if got, _ := feedIDs(t, s, 0, "", 10, now); !reflect.DeepEqual(got, []string{"new1"}) {
		t.Fatalf("feed after purge: %v", got)
	}
	if n, err := s.PurgeEvents(t.Context(), now.Add(-time.Hour), 10); err != nil || n != 0 {
		t.Fatalf("PurgeEvents again = %d, %v", n, err)
	}
}

// testHeaderMessageID: a stored message's Message-ID header comes back by
// its id; "" for a message without one, queue.ErrNotFound for none.
// testPurgePages: PurgeEvents takes up to limit old events however a
// store pages its reads, and stops at the first newer one.
func testPurgePages(t *testing.T, s Store, now time.Time) {
	old := now.Add(-80 * time.Hour)
	var evs []webhook.Event
	for i := range 20 {
		evs = append(evs, Event(fmt.Sprint("old", i), fmt.Sprint("m", i), "shop1", old.Add(time.Duration(i)*time.Second)))
	}
	for i := range 3 {
		evs = append(evs, Event(fmt.Sprint("new", i), fmt.Sprint("n", i), "shop1", now))
	}
	mustAppend(t, s, nil, evs...)
	for _, c := range []struct{ limit, want int }{{15, 15}, {100, 5}, {100, 0}} {
		if n, err := s.PurgeEvents(t.Context(), now.Add(-time.Hour), c.limit); err != nil || n != c.want {
			t.Fatalf("PurgeEvents(limit %d) = %d, %v; want %d", c.limit, n, err, c.want)
		}
	}
	if got, _ := feedIDs(t, s, 0, "", 10, now); !reflect.DeepEqual(got, []string{"new0", "new1", "new2"}) {
		t.Fatalf("feed after purge: %v", got)
	}
}

func testHeaderMessageID(t *testing.T, s Store, now time.Time) {
	with := &queue.Message{ID: queue.NewID(now), Account: "shop1", From: "a@shop1.test", Recipients: []string{"b@gmail.test"},
		Body: []byte("x"), Created: now, Expires: now.Add(time.Hour), Intake: &queue.Intake{HeaderMessageID: "1@shop1.test"}}
	without := &queue.Message{ID: queue.NewID(now), Account: "shop1", From: "a@shop1.test", Recipients: []string{"b@gmail.test"},
		Body: []byte("x"), Created: now, Expires: now.Add(time.Hour)}
	for _, m := range []*queue.Message{with, without} {
		if err := s.Put(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	if h, err := s.HeaderMessageID(t.Context(), with.ID); err != nil || h != "1@shop1.test" {
		t.Errorf("HeaderMessageID = %q, %v", h, err)
	}
	if h, err := s.HeaderMessageID(t.Context(), without.ID); err != nil || h != "" {
		t.Errorf("without one: %q, %v", h, err)
	}
	if _, err := s.HeaderMessageID(t.Context(), queue.NewID(now)); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("no such message: %v", err)
	}
}
