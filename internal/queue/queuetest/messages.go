package queuetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"sendpool/internal/queue"
)

func testPutThenGet(t *testing.T, s queue.Store) {
	m := put(t, s, newMessage(time.Now(), "a@one.test", "b@Two.TEST"))
	d := get(t, s, m.ID)
	if d.ID != m.ID || d.Account != m.Account || d.From != m.From {
		t.Errorf("GetMessage = id %q account %q from %q, want %q %q %q",
			d.ID, d.Account, d.From, m.ID, m.Account, m.From)
	}
	if d.Size != int64(len(m.Body)) {
		t.Errorf("Size = %d, want %d", d.Size, len(m.Body))
	}
	if !sameTime(d.Created, m.Created) || !sameTime(d.Expires, m.Expires) {
		t.Errorf("Created, Expires = %v, %v, want %v, %v", d.Created, d.Expires, m.Created, m.Expires)
	}
	if d.Status != queue.StatusQueued {
		t.Errorf("Status = %q, want queued", d.Status)
	}
	if len(d.Recipients) != 2 || d.Recipients[0].Address != "a@one.test" || d.Recipients[1].Address != "b@Two.TEST" {
		t.Fatalf("Recipients = %+v, want a@one.test, b@Two.TEST in order", d.Recipients)
	}
	for _, r := range d.Recipients {
		if r.Status != queue.StatusQueued || len(r.Attempts) != 0 {
			t.Errorf("recipient %s: status %q, %d attempts; want queued, none", r.Address, r.Status, len(r.Attempts))
		}
	}
	// The recipient's domain is lower-cased for grouping by destination.
	ls := lease(t, s, ownerA, time.Now(), time.Minute, 10)
	domains := map[string]string{}
	for _, l := range ls {
		domains[l.Recipient] = l.Domain
	}
	if domains["a@one.test"] != "one.test" || domains["b@Two.TEST"] != "two.test" {
		t.Errorf("lease domains = %v, want one.test and two.test", domains)
	}
}

func testMissingIsNotFound(t *testing.T, s queue.Store) {
	ctx := t.Context()
	_, err := s.GetMessage(ctx, "nosuchid")
	wantErr(t, "GetMessage", err, queue.ErrNotFound)
	_, err = s.Body(ctx, "nosuchid")
	wantErr(t, "Body", err, queue.ErrNotFound)
	wantErr(t, "Hold", s.Hold(ctx, "nosuchid"), queue.ErrNotFound)
	wantErr(t, "Release", s.Release(ctx, "nosuchid"), queue.ErrNotFound)
	wantErr(t, "Retry", s.Retry(ctx, "nosuchid"), queue.ErrNotFound)
	wantErr(t, "Delete", s.Delete(ctx, "nosuchid"), queue.ErrNotFound)
}

func testBodyStoredOnce(t *testing.T, s queue.Store) {
	m := newMessage(time.Now(), "a@one.test", "b@one.test", "c@two.test")
	// Every byte value, CR and LF included, must come back unchanged.
	m.Body = make([]byte, 0, 3*256)
	for i := range 3 * 256 {
		m.Body = append(m.Body, byte(i))
	}
	put(t, s, m)
	if got := body(t, s, m.ID); !bytes.Equal(got, m.Body) {
		t.Fatalf("Body differs from what was put (%d bytes, want %d)", len(got), len(m.Body))
	}
	// All three deliveries point at the one message and its one body.
	ls := lease(t, s, ownerA, time.Now(), time.Minute, 10)
	if len(ls) != 3 {
		t.Fatalf("leased %d deliveries, want 3", len(ls))
	}
	for _, l := range ls {
		if l.MessageID != m.ID || l.Size != int64(len(m.Body)) {
			t.Errorf("lease %s: message %q size %d, want %q %d", l.ID, l.MessageID, l.Size, m.ID, len(m.Body))
		}
	}
}

func testListPaging(t *testing.T, s queue.Store) {
	base := time.Now().Add(-time.Hour)
	var want []string
	for i := range 5 {
		m := put(t, s, newMessage(base.Add(time.Duration(i)*time.Second), fmt.Sprintf("r%d@one.test", i)))
		want = append(want, m.ID)
	}
	slices.Reverse(want) // newest first
	if got := list(t, s, queue.Filter{}); !slices.Equal(got, want) {
		t.Fatalf("ListMessages = %v, want %v", got, want)
	}
	var pages []string
	before := ""
	for range 4 {
		page := list(t, s, queue.Filter{Limit: 2, Before: before})
		if len(page) > 2 {
			t.Fatalf("page of %d with Limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		pages = append(pages, page...)
		before = page[len(page)-1]
	}
	if !slices.Equal(pages, want) {
		t.Fatalf("paging with Limit 2 gave %v, want %v", pages, want)
	}
	all, err := s.ListMessages(t.Context(), queue.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if all[0].Recipients != 1 || all[0].Account != "acme" || all[0].Status != queue.StatusQueued {
		t.Errorf("summary = %+v, want 1 recipient, account acme, queued", all[0])
	}
}

func testListFilters(t *testing.T, s queue.Store) {
	now := time.Now()
	byStatus := map[queue.Status]string{}
	// Queued last, so that each leaseOne below finds only the message just put.
	for i, st := range []queue.Status{queue.StatusDeferred, queue.StatusHeld, queue.StatusDelivered,
		queue.StatusBounced, queue.StatusQueued} {
		m := newMessage(now.Add(time.Duration(i-10)*time.Second), "r@one.test")
		m.Held = st == queue.StatusHeld
		put(t, s, m)
		byStatus[st] = m.ID
		switch st {
		case queue.StatusDeferred:
			report(t, s, leaseOne(t, s, ownerA, time.Now()), deferred(now, "127.0.0.2", now.Add(time.Hour)))
		case queue.StatusDelivered:
			report(t, s, leaseOne(t, s, ownerA, time.Now()), delivered(now, "127.0.0.2"))
		case queue.StatusBounced:
			report(t, s, leaseOne(t, s, ownerA, time.Now()), bounced(now, "127.0.0.2"))
		}
	}
	for st, id := range byStatus {
		if got := list(t, s, queue.Filter{Status: st}); !slices.Equal(got, []string{id}) {
			t.Errorf("ListMessages(status %s) = %v, want [%s]", st, got, id)
		}
	}
	other := newMessage(now, "r@one.test")
	other.Account = "other"
	other.Held = true
	put(t, s, other)
	if got := list(t, s, queue.Filter{Account: "other"}); !slices.Equal(got, []string{other.ID}) {
		t.Errorf("ListMessages(account other) = %v, want [%s]", got, other.ID)
	}
	if got := list(t, s, queue.Filter{Account: "acme", Status: queue.StatusHeld}); !slices.Equal(got, []string{byStatus[queue.StatusHeld]}) {
		t.Errorf("ListMessages(acme, held) = %v, want [%s]", got, byStatus[queue.StatusHeld])
	}
	if got := list(t, s, queue.Filter{Account: "nobody"}); len(got) != 0 {
		t.Errorf("ListMessages(account nobody) = %v, want none", got)
	}
}

func testCounts(t *testing.T, s queue.Store) {
	checkCounts(t, s, map[queue.Status]int{})
	now := time.Now()
	put(t, s, newMessage(now, "a@one.test", "b@one.test", "c@one.test"))
	held := newMessage(now, "d@one.test")
	held.Held = true
	put(t, s, held)
	checkCounts(t, s, map[queue.Status]int{queue.StatusQueued: 3, queue.StatusHeld: 1})
	ls := lease(t, s, ownerA, time.Now(), time.Minute, 3)
	report(t, s, &ls[0], delivered(now, "127.0.0.2"))
	report(t, s, &ls[1], bounced(now, "127.0.0.2"))
	report(t, s, &ls[2], deferred(now, "127.0.0.2", now.Add(time.Hour)))
	checkCounts(t, s, map[queue.Status]int{queue.StatusDelivered: 1, queue.StatusBounced: 1,
		queue.StatusDeferred: 1, queue.StatusHeld: 1})
}

func testConcurrentPuts(t *testing.T, s queue.Store) {
	const n = 40
	errs := make(chan error, n)
	ids := make([]string, n)
	for i := range n {
		m := newMessage(time.Now(), fmt.Sprintf("r%d@one.test", i))
		ids[i] = m.ID
		go func() { errs <- s.Put(t.Context(), m) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Put: %v", err)
		}
	}
	for _, id := range ids {
		get(t, s, id)
	}
	checkCounts(t, s, map[queue.Status]int{queue.StatusQueued: n})
}
