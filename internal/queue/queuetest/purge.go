package queuetest

import (
	"sync"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// tick moves the store's real clock past the millisecond a message
// became final, so that a cut taken now falls strictly after it (finishing
// times are kept to the millisecond). It orders events; it asserts nothing
// about how long anything takes.
func tick() { time.Sleep(3 * time.Millisecond) }

// finish leases every delivery of the store due now and reports each with
// the outcome out gives for its recipient.
func finish(t *testing.T, s queue.Store, out func(l *queue.Lease, now time.Time) queue.Outcome) {
	t.Helper()
	now := time.Now()
	for _, l := range lease(t, s, ownerA, now, time.Minute, 1000) {
		report(t, s, &l, out(&l, now))
	}
}

// testBodyDroppedWhenFinal: once every delivery of a message is final,
// delivered or bounced, its body is gone; a DSN we generated is a message
// like any other. While any delivery is not final the body stays.
func testBodyDroppedWhenFinal(t *testing.T, s queue.Store) {
	created := time.Now()
	bouncedOne := put(t, s, newMessage(created, "a@one.test"))
	mixed := put(t, s, newMessage(created.Add(time.Millisecond), "a@two.test", "b@two.test"))
	dsnDelivered := newMessage(created.Add(2*time.Millisecond), "sender@acme.test")
	dsnDelivered.From, dsnDelivered.Bounce = "", true
	put(t, s, dsnDelivered)
	dsnBounced := newMessage(created.Add(3*time.Millisecond), "gone@acme.test")
	dsnBounced.From, dsnBounced.Bounce = "", true
	put(t, s, dsnBounced)
	now := time.Now()

	for _, l := range lease(t, s, ownerA, now, time.Minute, 10) {
		switch {
		case l.MessageID == mixed.ID && l.Recipient == "b@two.test":
			report(t, s, &l, deferred(now, "127.0.0.2", now.Add(time.Hour)))
		case l.MessageID == dsnDelivered.ID:
			report(t, s, &l, delivered(now, "127.0.0.2"))
		default:
			report(t, s, &l, bounced(now, "127.0.0.2"))
		}
	}
	gone := func(what string, m *queue.Message) {
		t.Helper()
		_, err := s.Body(t.Context(), m.ID)
		wantErr(t, "Body of "+what, err, queue.ErrNotFound)
	}
	gone("a bounced message", bouncedOne)
	gone("a delivered DSN", dsnDelivered)
	gone("a bounced DSN", dsnBounced)
	if b := body(t, s, mixed.ID); string(b) != string(mixed.Body) {
		t.Fatalf("Body of a message with a recipient still deferred differs")
	}
	l := leaseOne(t, s, ownerA, now.Add(2*time.Hour))
	report(t, s, l, delivered(now, "127.0.0.3"))
	gone("a message bounced for one recipient, delivered for the other", mixed)
}

// testPurge: finished messages older than the cut go with everything of
// theirs; recent ones, and any with work left (queued, deferred, held,
// leased, or one recipient of several unfinished) stay, however old.
func testPurge(t *testing.T, s queue.Store) {
	ctx := t.Context()
	old := time.Now().Add(-1000 * time.Hour) // created long ago: age alone decides nothing
	delivered1 := put(t, s, newMessage(old, "a@one.test"))
	mixed := put(t, s, newMessage(old.Add(time.Millisecond), "a@two.test", "b@two.test"))
	dsn := newMessage(old.Add(2*time.Millisecond), "sender@acme.test")
	dsn.From, dsn.Bounce = "", true
	put(t, s, dsn)
	finish(t, s, func(l *queue.Lease, now time.Time) queue.Outcome {
		if l.Recipient == "b@two.test" {
			return bounced(now, "127.0.0.2")
		}
		return delivered(now, "127.0.0.2")
	})
	purged := []*queue.Message{delivered1, mixed, dsn}

	// Unfinished, all created long ago.
	queued := put(t, s, newMessage(old.Add(3*time.Millisecond), "q@three.test"))
	held := newMessage(old.Add(4*time.Millisecond), "h@three.test")
	held.Held = true
	put(t, s, held)
	deferredMsg := put(t, s, newMessage(old.Add(5*time.Millisecond), "d@four.test"))
	half := put(t, s, newMessage(old.Add(6*time.Millisecond), "x@five.test", "y@five.test"))
	leased := put(t, s, newMessage(old.Add(7*time.Millisecond), "l@six.test"))
	now := time.Now()
	for _, l := range lease(t, s, ownerA, now, time.Hour, 10) {
		switch {
		case l.MessageID == deferredMsg.ID || l.Recipient == "y@five.test":
			report(t, s, &l, deferred(now, "127.0.0.2", now.Add(time.Hour)))
		case l.Recipient == "x@five.test":
			report(t, s, &l, delivered(now, "127.0.0.2"))
		case l.MessageID == leased.ID:
			// left leased
		default:
			// queued stays queued, given back without an attempt and
			// not due before the end of the test.
			report(t, s, &l, queue.Outcome{Status: queue.StatusQueued, Next: now.Add(time.Hour)})
		}
	}
	kept := []*queue.Message{queued, held, deferredMsg, half, leased}

	tick()
	cut := time.Now()
	tick()
	recent := put(t, s, newMessage(time.Now(), "r@seven.test"))
	finish(t, s, func(l *queue.Lease, now time.Time) queue.Outcome { return delivered(now, "127.0.0.2") })
	if d := get(t, s, queued.ID); d.Status != queue.StatusQueued {
		t.Fatalf("setup: queued message is %s", d.Status)
	}
	before := count(t, s)

	n, err := s.Purge(ctx, cut, 100)
	if err != nil || n != len(purged) {
		t.Fatalf("Purge(cut) = %d, %v; want %d", n, err, len(purged))
	}
	for _, m := range purged {
		_, err := s.GetMessage(ctx, m.ID)
		wantErr(t, "GetMessage of a purged message", err, queue.ErrNotFound)
		_, err = s.Body(ctx, m.ID)
		wantErr(t, "Body of a purged message", err, queue.ErrNotFound)
		wantErr(t, "Delete of a purged message", s.Delete(ctx, m.ID), queue.ErrNotFound)
	}
	// Their deliveries went with them: 1+2+1 recipients, 3 delivered, 1 bounced.
	want := before
	want[queue.StatusDelivered] -= 3
	want[queue.StatusBounced] -= 1
	checkCounts(t, s, want)
	if d := get(t, s, recent.ID); d.Status != queue.StatusDelivered {
		t.Fatalf("recent message is %s after Purge, want delivered", d.Status)
	}

	if n, err := s.Purge(ctx, cut, 100); err != nil || n != 0 {
		t.Fatalf("second Purge(cut) = %d, %v; want 0", n, err)
	}
	// However far ahead the cut, only finished messages go.
	if n, err := s.Purge(ctx, time.Now().Add(1000*time.Hour), 100); err != nil || n != 1 {
		t.Fatalf("Purge(future) = %d, %v; want 1 (the recent one)", n, err)
	}
	_, err = s.GetMessage(ctx, recent.ID)
	wantErr(t, "GetMessage of the recent message once purged", err, queue.ErrNotFound)
	for _, m := range kept {
		d := get(t, s, m.ID)
		if d.Status.Final() || len(d.Recipients) != len(m.Recipients) {
			t.Fatalf("unfinished message %s: %s with %d recipients after Purge", m.ID, d.Status, len(d.Recipients))
		}
	}
	if b := body(t, s, half.ID); string(b) != string(half.Body) {
		t.Fatalf("body of an unfinished message changed by Purge")
	}
	// The leased delivery is still leased: its report stands.
	var l *queue.Lease
	for _, x := range lease(t, s, ownerB, now.Add(2*time.Hour), time.Minute, 10) {
		if x.MessageID == leased.ID {
			l = &x
		}
	}
	if l == nil {
		t.Fatalf("leased message's delivery not due again once its lease expired")
	}
	report(t, s, l, delivered(now, "127.0.0.3"))
}

// testPurgeLimit: Purge deletes at most limit, and calls in turn get the
// rest.
func testPurgeLimit(t *testing.T, s queue.Store) {
	const total = 12
	now := time.Now()
	for i := range total {
		put(t, s, newMessage(now.Add(time.Duration(i)*time.Millisecond)))
	}
	finish(t, s, func(l *queue.Lease, now time.Time) queue.Outcome { return delivered(now, "127.0.0.2") })
	tick()
	cut := time.Now()
	for i, want := range []int{5, 5, 2, 0} {
		n, err := s.Purge(t.Context(), cut, 5)
		if err != nil || n != want {
			t.Fatalf("Purge #%d (limit 5) = %d, %v; want %d", i+1, n, err, want)
		}
	}
	if n, err := s.Purge(t.Context(), cut, 0); err != nil || n != 0 {
		t.Fatalf("Purge(limit 0) = %d, %v; want 0", n, err)
	}
	if ms := list(t, s, queue.Filter{}); len(ms) != 0 {
		t.Fatalf("%d messages left after purging all", len(ms))
	}
}

// testPurgeConcurrent: purges running at once (nodes sharing a store) each
// delete what they get; together they delete every finished message once,
// and leave the unfinished one alone.
func testPurgeConcurrent(t *testing.T, s queue.Store) {
	const total = 30
	now := time.Now()
	for i := range total {
		put(t, s, newMessage(now.Add(time.Duration(i)*time.Millisecond), "a@one.test", "b@two.test"))
	}
	finish(t, s, func(l *queue.Lease, now time.Time) queue.Outcome {
		if l.Recipient == "b@two.test" {
			return bounced(now, "127.0.0.2")
		}
		return delivered(now, "127.0.0.2")
	})
	waiting := put(t, s, newMessage(time.Now(), "w@three.test"))
	tick()
	cut := time.Now()

	const purgers = 4
	var wg sync.WaitGroup
	counts := make([]int, purgers)
	errs := make([]error, purgers)
	for i := range purgers {
		wg.Go(func() { counts[i], errs[i] = s.Purge(t.Context(), cut, 1000) })
	}
	wg.Wait()
	sum := 0
	for i := range purgers {
		if errs[i] != nil {
			t.Fatalf("concurrent Purge %d: %v", i, errs[i])
		}
		sum += counts[i]
	}
	// A purger may stop early when another took its batch; one more call
	// finishes what is left, and the counts still add up.
	n, err := s.Purge(t.Context(), cut, 1000)
	if err != nil {
		t.Fatalf("Purge after the concurrent ones: %v", err)
	}
	if sum+n != total {
		t.Fatalf("concurrent Purges returned %v (+%d after), want %d in all", counts, n, total)
	}
	if ms := list(t, s, queue.Filter{}); len(ms) != 1 || ms[0] != waiting.ID {
		t.Fatalf("left after purging: %v, want only the waiting message", ms)
	}
	checkCounts(t, s, map[queue.Status]int{queue.StatusQueued: 1})
}
