package queuetest

import (
	"testing"
	"time"

	"sendpool/internal/queue"
)

// testRenewKeepsTheLease: a renewed lease is not due to anyone until its
// new end, and its owner's report still counts after the first end.
func testRenewKeepsTheLease(t *testing.T, s queue.Store) {
	put(t, s, newMessage(time.Now()))
	now := time.Now()
	l := leaseOne(t, s, ownerA, now) // until now+1m
	lost, err := s.Renew(t.Context(), []*queue.Lease{l}, now.Add(50*time.Second), time.Minute)
	if err != nil || len(lost) != 0 {
		t.Fatalf("Renew = %v, %v; want nothing lost", lost, err)
	}
	if !l.Until.Equal(now.Add(110 * time.Second).Truncate(time.Millisecond)) {
		t.Errorf("Until after Renew = %v, want %v", l.Until, now.Add(110*time.Second))
	}
	if ls := lease(t, s, ownerB, now.Add(90*time.Second), time.Minute, 10); len(ls) != 0 {
		t.Fatalf("B leased %d deliveries after the first end of a renewed lease, want 0", len(ls))
	}
	report(t, s, l, delivered(now.Add(100*time.Second), "127.0.0.2"))
	if d := get(t, s, l.MessageID); d.Recipients[0].Status != queue.StatusDelivered {
		t.Fatalf("status %q after the owner's report under a renewed lease", d.Recipients[0].Status)
	}
}

// testRenewLostAfterTakeover: once another owner took the work over (the
// lease expired unrenewed), or it was held meanwhile, Renew reports it
// lost and changes nothing; the others in the call are renewed.
func testRenewLostAfterTakeover(t *testing.T, s queue.Store) {
	m := newMessage(time.Now())
	m.Recipients = []string{"a@one.test", "b@two.test", "c@three.test"}
	put(t, s, m)
	now := time.Now()
	ls := lease(t, s, ownerA, now, time.Minute, 10)
	if len(ls) != 3 {
		t.Fatalf("leased %d, want 3", len(ls))
	}
	a := []*queue.Lease{&ls[0], &ls[1], &ls[2]}
	// A renews two of them in time; the third's lease ends unrenewed and
	// B takes it over.
	if lost, err := s.Renew(t.Context(), a[1:], now.Add(50*time.Second), time.Minute); err != nil || len(lost) != 0 {
		t.Fatalf("Renew in time = %v, %v", leaseIDs(lost), err)
	}
	taken := leaseSome(t, s, ownerB, now.Add(61*time.Second), a[0].ID)
	lost, err := s.Renew(t.Context(), a, now.Add(61*time.Second), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) != 1 || lost[0] != a[0] {
		t.Fatalf("lost %v, want only %s (taken over by B)", leaseIDs(lost), a[0].ID)
	}
	if taken.Owner != ownerB {
		t.Fatalf("taken by %q", taken.Owner)
	}
	// A's renewed leases still report; B's report of its own counts.
	report(t, s, a[1], delivered(now.Add(62*time.Second), "127.0.0.2"))
	report(t, s, taken, delivered(now.Add(62*time.Second), "127.0.0.3"))
	wantErr(t, "Report under the lost lease", s.Report(t.Context(), a[0], delivered(now, "127.0.0.2")), queue.ErrLeaseLost)

	// A held message's lease is lost too.
	h := put(t, s, newMessage(time.Now()))
	hl := leaseSome(t, s, ownerA, now.Add(62*time.Second), "")
	if err := s.Hold(t.Context(), h.ID); err != nil {
		t.Fatal(err)
	}
	lost, err = s.Renew(t.Context(), []*queue.Lease{hl, a[2]}, now.Add(63*time.Second), time.Minute)
	if err != nil || len(lost) != 1 || lost[0] != hl {
		t.Fatalf("Renew after Hold = %v, %v; want the held one lost", leaseIDs(lost), err)
	}
}

// leaseSome leases for owner at now and returns the lease of delivery id
// ("": the only one leased).
func leaseSome(t *testing.T, s queue.Store, owner string, now time.Time, id string) *queue.Lease {
	t.Helper()
	ls := lease(t, s, owner, now, time.Minute, 10)
	for i := range ls {
		if id == "" && len(ls) == 1 || ls[i].ID == id {
			return &ls[i]
		}
	}
	t.Fatalf("%s leased %d deliveries, not %q", owner, len(ls), id)
	return nil
}

func leaseIDs(ls []*queue.Lease) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.ID)
	}
	return out
}
