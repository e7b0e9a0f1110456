package queuetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"sendpool/internal/queue"
)

func testHeld(t *testing.T, s queue.Store) {
	m := newMessage(time.Now(), "a@one.test", "b@one.test")
	m.Held = true
	put(t, s, m)
	if ls := lease(t, s, ownerA, time.Now().Add(1000*time.Hour), time.Minute, 10); len(ls) != 0 {
		t.Fatalf("held message leased: %v", ids(ls))
	}
	if d := get(t, s, m.ID); d.Status != queue.StatusHeld {
		t.Fatalf("status %q, want held", d.Status)
	}
	if err := s.Release(t.Context(), m.ID); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if d := get(t, s, m.ID); d.Status != queue.StatusQueued {
		t.Fatalf("status after release %q, want queued", d.Status)
	}
	if ls := lease(t, s, ownerA, time.Now(), time.Minute, 10); len(ls) != 2 {
		t.Fatalf("leased %d after release, want 2", len(ls))
	}
}

func testHoldLeased(t *testing.T, s queue.Store) {
	m := put(t, s, newMessage(time.Now()))
	now := time.Now()
	l := leaseOne(t, s, ownerA, now)
	if err := s.Hold(t.Context(), m.ID); err != nil {
		t.Fatalf("Hold: %v", err)
	}
	wantErr(t, "Report after Hold", s.Report(t.Context(), l, delivered(now, "127.0.0.2")), queue.ErrLeaseLost)
	if d := get(t, s, m.ID); d.Status != queue.StatusHeld {
		t.Fatalf("status %q, want held", d.Status)
	}
	// Not leased even once the old lease would have expired.
	if ls := lease(t, s, ownerB, now.Add(time.Hour), time.Minute, 10); len(ls) != 0 {
		t.Fatalf("held delivery leased: %v", ids(ls))
	}
	if err := s.Release(t.Context(), m.ID); err != nil {
		t.Fatalf("Release: %v", err)
	}
	// Release does not revive the old lease: the hold ended it for good.
	wantErr(t, "Report under the held lease after Release", s.Report(t.Context(), l, delivered(now, "127.0.0.2")), queue.ErrLeaseLost)
	report(t, s, leaseOne(t, s, ownerB, time.Now()), delivered(now, "127.0.0.2"))
}

func testRetry(t *testing.T, s queue.Store) {
	m := put(t, s, newMessage(time.Now()))
	now := time.Now()
	report(t, s, leaseOne(t, s, ownerA, now), deferred(now, "127.0.0.2", now.Add(time.Hour)))
	if ls := lease(t, s, ownerA, time.Now(), time.Minute, 10); len(ls) != 0 {
		t.Fatalf("deferred delivery leased before its time")
	}
	if err := s.Retry(t.Context(), m.ID); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	l := leaseOne(t, s, ownerA, time.Now())
	if l.Status != queue.StatusDeferred || l.Attempts != 1 {
		t.Fatalf("retried delivery: %q with %d attempts, want deferred with 1", l.Status, l.Attempts)
	}
}

func testDelete(t *testing.T, s queue.Store) {
	m := put(t, s, newMessage(time.Now(), "a@one.test", "b@one.test"))
	keep := put(t, s, newMessage(time.Now(), "c@one.test"))
	now := time.Now()
	ls := lease(t, s, ownerA, now, time.Minute, 10)
	i := slices.IndexFunc(ls, func(l queue.Lease) bool { return l.MessageID == m.ID })
	if len(ls) != 3 || i < 0 {
		t.Fatalf("leased %v, want 3 deliveries", ids(ls))
	}
	if err := s.Delete(t.Context(), m.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := s.GetMessage(t.Context(), m.ID)
	wantErr(t, "GetMessage after Delete", err, queue.ErrNotFound)
	_, err = s.Body(t.Context(), m.ID)
	wantErr(t, "Body after Delete", err, queue.ErrNotFound)
	wantErr(t, "Delete twice", s.Delete(t.Context(), m.ID), queue.ErrNotFound)
	wantErr(t, "Report after Delete", s.Report(t.Context(), &ls[i], delivered(now, "127.0.0.2")), queue.ErrLeaseLost)
	if l := leaseOne(t, s, ownerB, now.Add(time.Hour)); l.MessageID != keep.ID {
		t.Fatalf("leased %s of the deleted message", l.ID)
	}
	if got := list(t, s, queue.Filter{}); !slices.Equal(got, []string{keep.ID}) {
		t.Fatalf("ListMessages after Delete = %v, want [%s]", got, keep.ID)
	}
	checkCounts(t, s, map[queue.Status]int{queue.StatusQueued: 1})
}

func testReleaseOwner(t *testing.T, s queue.Store) {
	put(t, s, newMessage(time.Now(), "a@one.test", "b@one.test", "c@one.test"))
	put(t, s, newMessage(time.Now(), "d@one.test"))
	now := time.Now()
	mine := lease(t, s, ownerA, now, time.Hour, 3)
	theirs := lease(t, s, ownerB, now, time.Hour, 1)
	if len(mine) != 3 || len(theirs) != 1 {
		t.Fatalf("leased %d and %d, want 3 and 1", len(mine), len(theirs))
	}
	n, err := s.ReleaseOwner(t.Context(), ownerA)
	if err != nil || n != 3 {
		t.Fatalf("ReleaseOwner = %d, %v; want 3, nil", n, err)
	}
	again := lease(t, s, ownerA, time.Now(), time.Hour, 10)
	if !slices.Equal(ids(again), ids(mine)) {
		t.Fatalf("after ReleaseOwner leased %v, want A's released %v (B's lease untouched)", ids(again), ids(mine))
	}
	wantErr(t, "Report under a released lease", s.Report(t.Context(), &mine[0], delivered(now, "127.0.0.2")), queue.ErrLeaseLost)
	report(t, s, &theirs[0], delivered(now, "127.0.0.2"))
	if n, err := s.ReleaseOwner(t.Context(), "nobody"); err != nil || n != 0 {
		t.Fatalf("ReleaseOwner(nobody) = %d, %v; want 0, nil", n, err)
	}
}

// testConcurrentLeasers: 8 leasers drain 500 due deliveries at once; each
// delivery must be leased exactly once.
func testConcurrentLeasers(t *testing.T, s queue.Store) {
	const messages, perMessage, leasers = 50, 10, 8
	var wg sync.WaitGroup
	errs := make(chan error, messages)
	for i := range messages {
		rcpts := make([]string, perMessage)
		for j := range rcpts {
			rcpts[j] = fmt.Sprintf("r%d-%d@one.test", i, j)
		}
		m := newMessage(time.Now(), rcpts...)
		wg.Go(func() { errs <- s.Put(t.Context(), m) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
	}

	now := time.Now()
	var mu sync.Mutex
	seen := map[string]int{}
	failed := make(chan error, leasers)
	for w := range leasers {
		wg.Go(func() {
			owner := fmt.Sprintf("leaser-%d", w)
			for {
				ls, err := s.Lease(t.Context(), owner, now, time.Hour, 7)
				if err != nil {
					failed <- err
					return
				}
				if len(ls) == 0 {
					return
				}
				mu.Lock()
				for _, l := range ls {
					seen[l.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(failed)
	for err := range failed {
		t.Fatalf("Lease: %v", err)
	}
	if len(seen) != messages*perMessage {
		t.Fatalf("%d distinct deliveries leased, want %d", len(seen), messages*perMessage)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %s leased %d times", id, n)
		}
	}
}
