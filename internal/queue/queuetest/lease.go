package queuetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"sendpool/internal/queue"
)

func testLeaseOnlyDue(t *testing.T, s queue.Store) {
	now := time.Now()
	early := put(t, s, newMessage(now, "early@one.test"))
	report(t, s, leaseOne(t, s, ownerA, time.Now()), deferred(now, "127.0.0.2", now.Add(time.Hour)))
	late := put(t, s, newMessage(now, "late@one.test"))
	report(t, s, leaseOne(t, s, ownerA, time.Now()), deferred(now, "127.0.0.2", now.Add(3*time.Hour)))
	fresh := put(t, s, newMessage(now, "fresh@one.test"))

	// Each lease lasts long enough to keep its delivery out of the next look.
	for _, step := range []struct {
		at   time.Time
		want *queue.Message
	}{
		{time.Now(), fresh},
		{now.Add(2 * time.Hour), early},
		{now.Add(3 * time.Hour), late},
	} {
		ls := lease(t, s, ownerA, step.at, 10*time.Hour, 10)
		if len(ls) != 1 || ls[0].MessageID != step.want.ID {
			t.Fatalf("at %v leased %v, want only message %s", step.at, ids(ls), step.want.ID)
		}
	}
}

func testLeaseMax(t *testing.T, s queue.Store) {
	put(t, s, newMessage(time.Now(), "a@one.test", "b@one.test", "c@one.test", "d@one.test", "e@one.test"))
	now := time.Now()
	var got []int
	var all []string
	for range 4 {
		ls := lease(t, s, ownerA, now, time.Minute, 2)
		got = append(got, len(ls))
		all = append(all, ids(ls)...)
	}
	if !slices.Equal(got, []int{2, 2, 1, 0}) {
		t.Fatalf("leases of at most 2 from 5 gave %v, want [2 2 1 0]", got)
	}
	slices.Sort(all)
	if len(slices.Compact(all)) != 5 {
		t.Fatalf("leased %v, want 5 different deliveries", all)
	}
}

func testLeaseFields(t *testing.T, s queue.Store) {
	m := newMessage(time.Now(), "a@one.test")
	m.From = ""
	m.Account = "shop"
	m.Bounce = true
	put(t, s, m)
	now := time.Now()
	ls := lease(t, s, ownerA, now, 5*time.Minute, 10)
	if len(ls) != 1 {
		t.Fatalf("leased %d, want 1", len(ls))
	}
	l := ls[0]
	if l.Owner != ownerA || !sameTime(l.Until, now.Add(5*time.Minute)) {
		t.Errorf("lease owner %q until %v, want %q, %v", l.Owner, l.Until, ownerA, now.Add(5*time.Minute))
	}
	if l.MessageID != m.ID || l.Recipient != "a@one.test" || l.Status != queue.StatusQueued || l.Attempts != 0 {
		t.Errorf("lease = %+v, want message %s, a@one.test, queued, 0 attempts", l.Delivery, m.ID)
	}
	if l.From != "" || l.Account != "shop" || !l.Bounce || l.Size != int64(len(m.Body)) ||
		!sameTime(l.Created, m.Created) || !sameTime(l.Expires, m.Expires) {
		t.Errorf("lease message fields = from %q account %q bounce %v size %d created %v expires %v; want %q %q true %d %v %v",
			l.From, l.Account, l.Bounce, l.Size, l.Created, l.Expires, "", "shop", len(m.Body), m.Created, m.Expires)
	}
	if l.ID == "" || l.ID == ls[0].MessageID {
		t.Errorf("delivery id %q, want one of its own", l.ID)
	}
}

func testLeaseTakeover(t *testing.T, s queue.Store) {
	put(t, s, newMessage(time.Now()))
	now := time.Now()
	a := leaseOne(t, s, ownerA, now)
	if ls := lease(t, s, ownerB, now.Add(30*time.Second), time.Minute, 10); len(ls) != 0 {
		t.Fatalf("B leased %d deliveries while A's lease runs, want 0", len(ls))
	}
	b := leaseOne(t, s, ownerB, now.Add(61*time.Second))
	if b.ID != a.ID || b.Owner != ownerB {
		t.Fatalf("B leased %s as %q, want %s as %q", b.ID, b.Owner, a.ID, ownerB)
	}
	if b.Generation == a.Generation {
		t.Fatalf("takeover kept generation %d", a.Generation)
	}
	wantErr(t, "Report by the owner whose lease expired", s.Report(t.Context(), a, delivered(now, "127.0.0.2")), queue.ErrLeaseLost)
	report(t, s, b, delivered(now.Add(62*time.Second), "127.0.0.3"))
	d := get(t, s, a.MessageID)
	if d.Status != queue.StatusDelivered || len(d.Recipients[0].Attempts) != 1 ||
		d.Recipients[0].Attempts[0].SourceIP != "127.0.0.3" {
		t.Fatalf("after takeover: %+v, want delivered with B's one attempt from 127.0.0.3", d.Recipients[0])
	}
}

func testLeaseSameOwnerRetake(t *testing.T, s queue.Store) {
	put(t, s, newMessage(time.Now()))
	now := time.Now()
	first := leaseOne(t, s, ownerA, now)
	second := leaseOne(t, s, ownerA, now.Add(2*time.Minute))
	if second.Generation == first.Generation {
		t.Fatalf("retake kept generation %d", first.Generation)
	}
	wantErr(t, "Report under the expired lease", s.Report(t.Context(), first, delivered(now, "127.0.0.2")), queue.ErrLeaseLost)
	report(t, s, second, delivered(now, "127.0.0.2"))
}

func testStaleReport(t *testing.T, s queue.Store) {
	put(t, s, newMessage(time.Now()))
	now := time.Now()
	l := leaseOne(t, s, ownerA, now)
	report(t, s, l, deferred(now, "127.0.0.2", now.Add(time.Hour)))
	wantErr(t, "second Report of one lease", s.Report(t.Context(), l, delivered(now, "127.0.0.2")), queue.ErrLeaseLost)
	forged := *l
	forged.Owner = ownerB
	wantErr(t, "Report by another owner", s.Report(t.Context(), &forged, delivered(now, "127.0.0.2")), queue.ErrLeaseLost)
	if d := get(t, s, l.MessageID); d.Recipients[0].Status != queue.StatusDeferred {
		t.Fatalf("status %q after refused reports, want deferred", d.Recipients[0].Status)
	}
}

func testDeferThenDue(t *testing.T, s queue.Store) {
	put(t, s, newMessage(time.Now()))
	now := time.Now()
	next := now.Add(10 * time.Minute)
	report(t, s, leaseOne(t, s, ownerA, now), deferred(now, "127.0.0.2", next))
	if ls := lease(t, s, ownerA, next.Add(-time.Second), time.Minute, 10); len(ls) != 0 {
		t.Fatalf("leased %d a second before Next, want 0", len(ls))
	}
	l := leaseOne(t, s, ownerA, next)
	if l.Status != queue.StatusDeferred || l.Attempts != 1 || l.Response != "451 4.7.1 try later" {
		t.Fatalf("re-leased delivery: status %q attempts %d response %q; want deferred, 1, the 451",
			l.Status, l.Attempts, l.Response)
	}
	d := get(t, s, l.MessageID)
	if d.Status != queue.StatusDeferred {
		t.Errorf("message status %q, want deferred", d.Status)
	}
}

func testDeliveredFinal(t *testing.T, s queue.Store) {
	m := put(t, s, newMessage(time.Now()))
	now := time.Now()
	l := leaseOne(t, s, ownerA, now)
	report(t, s, l, delivered(now, "127.0.0.2"))
	if ls := lease(t, s, ownerB, now.Add(1000*time.Hour), time.Minute, 10); len(ls) != 0 {
		t.Fatalf("delivered delivery leased again: %v", ids(ls))
	}
	d := get(t, s, m.ID)
	r := d.Recipients[0]
	if d.Status != queue.StatusDelivered || r.Status != queue.StatusDelivered || r.Response != "250 2.0.0 ok" {
		t.Fatalf("message %q recipient %q %q, want delivered, delivered, the 250", d.Status, r.Status, r.Response)
	}
	// A store may drop the body of a delivered message; it must not mangle it.
	if b, err := s.Body(t.Context(), m.ID); err == nil && string(b) != string(m.Body) {
		t.Fatalf("Body after delivery differs")
	} else if err != nil {
		wantErr(t, "Body after delivery", err, queue.ErrNotFound)
	}
	wantErr(t, "Report after final", s.Report(t.Context(), l, delivered(now, "127.0.0.2")), queue.ErrLeaseLost)
}

func testBouncedFinal(t *testing.T, s queue.Store) {
	m := put(t, s, newMessage(time.Now()))
	now := time.Now()
	report(t, s, leaseOne(t, s, ownerA, now), bounced(now, "127.0.0.2"))
	if ls := lease(t, s, ownerB, now.Add(1000*time.Hour), time.Minute, 10); len(ls) != 0 {
		t.Fatalf("bounced delivery leased again: %v", ids(ls))
	}
	d := get(t, s, m.ID)
	if d.Status != queue.StatusBounced || d.Recipients[0].Response != "550 5.1.1 no such user" {
		t.Fatalf("message %q response %q, want bounced with the 550", d.Status, d.Recipients[0].Response)
	}
	// Retry, Hold and Release leave final deliveries alone.
	for name, f := range map[string]func() error{
		"Retry":   func() error { return s.Retry(t.Context(), m.ID) },
		"Hold":    func() error { return s.Hold(t.Context(), m.ID) },
		"Release": func() error { return s.Release(t.Context(), m.ID) },
	} {
		if err := f(); err != nil {
			t.Fatalf("%s of a bounced message: %v", name, err)
		}
	}
	if d := get(t, s, m.ID); d.Status != queue.StatusBounced {
		t.Fatalf("after retry, hold, release: %q, want bounced", d.Status)
	}
}

func testMessageStatus(t *testing.T, s queue.Store) {
	m := put(t, s, newMessage(time.Now(), "a@one.test", "b@one.test"))
	now := time.Now()
	ls := lease(t, s, ownerA, now, time.Minute, 10)
	if len(ls) != 2 {
		t.Fatalf("leased %d, want 2", len(ls))
	}
	report(t, s, &ls[0], delivered(now, "127.0.0.2"))
	report(t, s, &ls[1], deferred(now, "127.0.0.2", now.Add(time.Hour)))
	if d := get(t, s, m.ID); d.Status != queue.StatusDeferred {
		t.Fatalf("one delivered, one deferred: %q, want deferred", d.Status)
	}
	report(t, s, leaseOne(t, s, ownerA, now.Add(time.Hour)), delivered(now, "127.0.0.2"))
	if d := get(t, s, m.ID); d.Status != queue.StatusDelivered {
		t.Fatalf("both delivered: %q, want delivered", d.Status)
	}
}

func testAttemptsOrder(t *testing.T, s queue.Store) {
	m := put(t, s, newMessage(time.Now()))
	now := time.Now()
	for i := range 3 {
		at := now.Add(time.Duration(i) * time.Hour)
		o := deferred(at, fmt.Sprintf("127.0.0.%d", i+2), at.Add(time.Hour))
		o.Attempt.Response = fmt.Sprintf("451 try %d", i)
		report(t, s, leaseOne(t, s, ownerA, at), o)
	}
	as := get(t, s, m.ID).Recipients[0].Attempts
	if len(as) != 3 {
		t.Fatalf("%d attempts recorded, want 3", len(as))
	}
	for i, a := range as {
		want := attempt(now.Add(time.Duration(i)*time.Hour), fmt.Sprintf("127.0.0.%d", i+2), fmt.Sprintf("451 try %d", i))
		if !sameTime(a.Time, want.Time) || a.SourceIP != want.SourceIP || a.MX != want.MX ||
			a.MXAddr != want.MXAddr || a.Response != want.Response || a.Verdict != want.Verdict ||
			a.Category != want.Category || a.Duration != want.Duration {
			t.Errorf("attempt %d = %+v, want %+v", i, a, want)
		}
	}
}

func testReportNoAttempt(t *testing.T, s queue.Store) {
	m := put(t, s, newMessage(time.Now()))
	now := time.Now()
	// E.g. a worker shutting down hands the delivery back untried.
	report(t, s, leaseOne(t, s, ownerA, now), queue.Outcome{Status: queue.StatusDeferred, Next: now})
	l := leaseOne(t, s, ownerA, now)
	if l.Attempts != 0 || len(l.TriedIPs) != 0 {
		t.Fatalf("attempts %d tried %v after a report without attempt, want 0, none", l.Attempts, l.TriedIPs)
	}
	if as := get(t, s, m.ID).Recipients[0].Attempts; len(as) != 0 {
		t.Fatalf("%d attempts recorded, want none", len(as))
	}
}

func testTriedIPs(t *testing.T, s queue.Store) {
	put(t, s, newMessage(time.Now()))
	now := time.Now()
	l := leaseOne(t, s, ownerA, now)
	if len(l.TriedIPs) != 0 {
		t.Fatalf("new delivery has tried IPs %v", l.TriedIPs)
	}
	report(t, s, l, deferred(now, "127.0.0.2", now))
	l = leaseOne(t, s, ownerA, now)
	if !slices.Equal(l.TriedIPs, []string{"127.0.0.2"}) {
		t.Fatalf("TriedIPs = %v, want [127.0.0.2]", l.TriedIPs)
	}
	report(t, s, l, deferred(now, "127.0.0.3", now))
	l = leaseOne(t, s, ownerA, now)
	if !slices.Equal(l.TriedIPs, []string{"127.0.0.2", "127.0.0.3"}) {
		t.Fatalf("TriedIPs = %v, want [127.0.0.2 127.0.0.3]", l.TriedIPs)
	}
	if l.Attempts != 2 {
		t.Fatalf("Attempts = %d, want 2", l.Attempts)
	}
}
