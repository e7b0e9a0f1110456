package queuetest

import (
	"testing"
	"time"

	"sendpool/internal/queue"
)

// testHoldAccount: HoldAccount holds the queued, deferred and leased
// deliveries of one account's messages and nobody else's, finished ones
// stay as they are; ReleaseAccount makes them due again, queued or deferred
// as they were tried or not.
func testHoldAccount(t *testing.T, s queue.Store) {
	now := time.Now()
	fresh := put(t, s, newMessage(now, "a@one.test"))
	tried := put(t, s, newMessage(now.Add(time.Millisecond), "b@one.test"))
	done := put(t, s, newMessage(now.Add(2*time.Millisecond), "c@one.test"))
	leased := put(t, s, newMessage(now.Add(3*time.Millisecond), "d@one.test"))
	other := newMessage(now.Add(4*time.Millisecond), "e@one.test")
	other.Account = "other"
	put(t, s, other)

	ls := lease(t, s, ownerA, time.Now(), time.Minute, 10)
	if len(ls) != 5 {
		t.Fatalf("leased %d, want 5", len(ls))
	}
	var held *queue.Lease
	for i := range ls {
		l := &ls[i]
		switch l.MessageID {
		case tried.ID:
			report(t, s, l, deferred(now, "127.0.0.2", now.Add(time.Hour)))
		case done.ID:
			report(t, s, l, delivered(now, "127.0.0.2"))
		case leased.ID:
			held = l // still being delivered when the account is held
		default:
			report(t, s, l, queue.Outcome{Status: queue.StatusQueued, Next: now})
		}
	}

	n, err := s.HoldAccount(t.Context(), "acme")
	if err != nil {
		t.Fatalf("HoldAccount: %v", err)
	}
	if n != 3 {
		t.Fatalf("HoldAccount changed %d deliveries, want 3", n)
	}
	for _, id := range []string{fresh.ID, tried.ID, leased.ID} {
		if d := get(t, s, id); d.Status != queue.StatusHeld {
			t.Fatalf("%s: status %q after HoldAccount, want held", id, d.Status)
		}
	}
	if d := get(t, s, done.ID); d.Status != queue.StatusDelivered {
		t.Fatalf("delivered message: status %q after HoldAccount", d.Status)
	}
	if d := get(t, s, other.ID); d.Status != queue.StatusQueued {
		t.Fatalf("other account's message: status %q after HoldAccount, want queued", d.Status)
	}
	wantErr(t, "Report under a lease held by HoldAccount", s.Report(t.Context(), held, delivered(now, "127.0.0.2")), queue.ErrLeaseLost)
	if ls := lease(t, s, ownerB, time.Now().Add(1000*time.Hour), time.Minute, 10); len(ls) != 1 || ls[0].MessageID != other.ID {
		t.Fatalf("leased %v while the account is held, want only the other account's", ids(ls))
	}

	n, err = s.ReleaseAccount(t.Context(), "acme")
	if err != nil {
		t.Fatalf("ReleaseAccount: %v", err)
	}
	if n != 3 {
		t.Fatalf("ReleaseAccount changed %d deliveries, want 3", n)
	}
	want := map[string]queue.Status{fresh.ID: queue.StatusQueued, tried.ID: queue.StatusDeferred, leased.ID: queue.StatusQueued}
	for id, st := range want {
		if d := get(t, s, id); d.Status != st {
			t.Fatalf("%s: status %q after ReleaseAccount, want %q", id, d.Status, st)
		}
	}
	// Due at once, the deferred one included.
	if ls := lease(t, s, ownerB, time.Now().Add(time.Second), time.Minute, 10); len(ls) != 3 {
		t.Fatalf("leased %d after ReleaseAccount, want 3", len(ls))
	}
	if n, err := s.ReleaseAccount(t.Context(), "nobody"); err != nil || n != 0 {
		t.Fatalf("ReleaseAccount of an unknown account = %d, %v; want 0, nil", n, err)
	}
}
