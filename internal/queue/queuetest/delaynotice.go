package queuetest

import (
	"testing"
	"time"

	"sendpool/internal/queue"
)

// testDelayNotified: once an outcome says the delay notice went, every later
// lease says so, even after outcomes that do not repeat it, so the notice is
// sent once; other deliveries of the message are not marked.
func testDelayNotified(t *testing.T, s queue.Store) {
	m := put(t, s, newMessage(time.Now(), "a@example.test", "b@example.test"))
	now := time.Now()
	ls := lease(t, s, ownerA, now, time.Minute, 10)
	if len(ls) != 2 {
		t.Fatalf("leased %d, want 2", len(ls))
	}
	for _, l := range ls {
		if l.DelayNotified {
			t.Fatalf("new delivery %s has DelayNotified", l.ID)
		}
	}
	noticed := m.ID + "/0"
	for i := range ls {
		o := deferred(now, "127.0.0.2", now)
		o.DelayNotified = ls[i].ID == noticed
		report(t, s, &ls[i], o)
	}

	for range 2 {
		ls = lease(t, s, ownerA, now, time.Minute, 10)
		if len(ls) != 2 {
			t.Fatalf("re-leased %d, want 2", len(ls))
		}
		for i, l := range ls {
			if want := l.ID == noticed; l.DelayNotified != want {
				t.Fatalf("delivery %s: DelayNotified %v, want %v", l.ID, l.DelayNotified, want)
			}
			// An outcome without the flag leaves it set.
			report(t, s, &ls[i], deferred(now, "127.0.0.3", now))
		}
	}
}
