// Package suppressiontest is the conformance suite every suppression.Store
// passes: the SQLite store and the MongoDB store run the same tests
// (DESIGN "Seams"). Times are compared at millisecond precision.
package suppressiontest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"sendpool/internal/suppression"
	"sendpool/internal/testclock"
)

// Run runs the suite; open returns a new, empty store for each subtest (and
// arranges its cleanup with t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) suppression.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s suppression.Store, now time.Time)
	}{
		{"PutThenGetKeepsEveryField", testRoundTrip},
		{"DomainComparedWithoutCase", testKey},
		{"AccountsAreSeparate", testAccounts},
		{"PutReplaces", testReplace},
		{"ExpiredStillReadUntilPurged", testExpired},
		{"ListNewestFirstWithLimit", testList},
		{"Delete", testDelete},
		{"PurgeOnlyExpired", testPurge},
		{"ConcurrentPutsOfOneKey", testConcurrentPuts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The real time, to the second: stores keep milliseconds.
			tc.fn(t, open(t), testclock.New().Now())
		})
	}
}

// Entry returns a bounce's entry for address of account, made at now.
func Entry(account, address string, now time.Time) *suppression.Entry {
	return &suppression.Entry{
		Account: account, Address: address, Reason: suppression.ReasonBadMailbox,
		Reply:     "550 5.1.1 <" + address + ">: The email account that you tried to reach does not exist",
		MessageID: "0msg" + account, Created: now, Expires: now.Add(720 * time.Hour),
	}
}

func mustPut(t *testing.T, s suppression.Store, e *suppression.Entry) {
	t.Helper()
	if err := s.PutSuppression(t.Context(), e); err != nil {
		t.Fatalf("PutSuppression(%s, %s): %v", e.Account, e.Address, err)
	}
}

// same compares two entries, times by instant.
func same(a, b *suppression.Entry) bool {
	x, y := *a, *b
	if !x.Created.Equal(y.Created) || !x.Expires.Equal(y.Expires) {
		return false
	}
	x.Created, x.Expires, y.Created, y.Expires = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(x, y)
}

func testRoundTrip(t *testing.T, s suppression.Store, now time.Time) {
	e := Entry("shop1", "bob@gmail.test", now.Add(123*time.Millisecond))
	mustPut(t, s, e)
	got, err := s.GetSuppression(t.Context(), "shop1", "bob@gmail.test")
	if err != nil || !same(got, e) {
		t.Fatalf("GetSuppression = %+v, %v; want %+v", got, err, e)
	}
	// An admin's entry: no reply, no message, no expiry.
	m := &suppression.Entry{Account: "shop1", Address: "x@y.test", Reason: "asked us to stop", Created: now}
	mustPut(t, s, m)
	got, err = s.GetSuppression(t.Context(), "shop1", "x@y.test")
	if err != nil || !same(got, m) || !got.Expires.IsZero() {
		t.Fatalf("GetSuppression of an entry without expiry = %+v, %v; want %+v", got, err, m)
	}
	if _, err := s.GetSuppression(t.Context(), "shop1", "nobody@gmail.test"); !errors.Is(err, suppression.ErrNotFound) {
		t.Fatalf("GetSuppression of another address: %v, want ErrNotFound", err)
	}
}

func testKey(t *testing.T, s suppression.Store, now time.Time) {
	mustPut(t, s, Entry("shop1", "Bob@Gmail.TEST", now))
	for _, addr := range []string{"Bob@gmail.test", "Bob@GMAIL.test", "<Bob@gmail.test>"} {
		got, err := s.GetSuppression(t.Context(), "shop1", addr)
		if err != nil || got.Address != "Bob@Gmail.TEST" {
			t.Errorf("GetSuppression(%q) = %+v, %v; want the entry as first written", addr, got, err)
		}
	}
	// The local part is the receiver's to interpret (RFC 5321 §2.4).
	if _, err := s.GetSuppression(t.Context(), "shop1", "bob@gmail.test"); !errors.Is(err, suppression.ErrNotFound) {
		t.Errorf("GetSuppression with the local part in another case: %v, want ErrNotFound", err)
	}
}

func testAccounts(t *testing.T, s suppression.Store, now time.Time) {
	mustPut(t, s, Entry("shop1", "bob@gmail.test", now))
	if _, err := s.GetSuppression(t.Context(), "shop2", "bob@gmail.test"); !errors.Is(err, suppression.ErrNotFound) {
		t.Fatalf("another account's GetSuppression: %v, want ErrNotFound", err)
	}
	mustPut(t, s, Entry("shop2", "bob@gmail.test", now.Add(time.Second)))
	if err := s.DeleteSuppression(t.Context(), "shop2", "bob@gmail.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSuppression(t.Context(), "shop1", "bob@gmail.test"); err != nil {
		t.Fatalf("shop1's entry after shop2's went: %v", err)
	}
	if l, err := s.ListSuppressions(t.Context(), "shop2", 0); err != nil || l == nil || len(l) != 0 {
		t.Fatalf("ListSuppressions of an empty list = %#v, %v; want an empty, non-nil list", l, err)
	}
}

func testReplace(t *testing.T, s suppression.Store, now time.Time) {
	mustPut(t, s, Entry("shop1", "bob@gmail.test", now))
	e := Entry("shop1", "bob@GMAIL.test", now.Add(time.Hour))
	e.Reply, e.MessageID = "550 5.2.1 mailbox disabled", "0later"
	mustPut(t, s, e)
	got, err := s.GetSuppression(t.Context(), "shop1", "bob@gmail.test")
	if err != nil || !same(got, e) {
		t.Fatalf("after a second put: %+v, %v; want %+v", got, err, e)
	}
	if l, err := s.ListSuppressions(t.Context(), "shop1", 0); err != nil || len(l) != 1 {
		t.Fatalf("ListSuppressions after a second put: %d entries, %v; want 1", len(l), err)
	}
}

func testExpired(t *testing.T, s suppression.Store, now time.Time) {
	e := Entry("shop1", "bob@gmail.test", now.Add(-2*time.Hour))
	e.Expires = now.Add(-time.Hour)
	mustPut(t, s, e)
	got, err := s.GetSuppression(t.Context(), "shop1", "bob@gmail.test")
	if err != nil || got.Active(now) || !got.Active(now.Add(-90*time.Minute)) {
		t.Fatalf("an expired entry: %+v, %v; want it, inactive now", got, err)
	}
}

func testList(t *testing.T, s suppression.Store, now time.Time) {
	for i := range 5 {
		mustPut(t, s, Entry("shop1", fmt.Sprintf("u%d@gmail.test", i), now.Add(time.Duration(i)*time.Minute)))
	}
	mustPut(t, s, Entry("shop2", "other@gmail.test", now.Add(time.Hour)))
	l, err := s.ListSuppressions(t.Context(), "shop1", 0)
	if err != nil || len(l) != 5 {
		t.Fatalf("ListSuppressions = %d entries, %v; want 5", len(l), err)
	}
	for i, e := range l {
		if want := fmt.Sprintf("u%d@gmail.test", 4-i); e.Address != want || e.Account != "shop1" {
			t.Errorf("entry %d: %s of %s, want %s of shop1 (newest first)", i, e.Address, e.Account, want)
		}
	}
	if !same(l[0], Entry("shop1", "u4@gmail.test", now.Add(4*time.Minute))) {
		t.Errorf("listed entry %+v lacks fields", l[0])
	}
	if l, err = s.ListSuppressions(t.Context(), "shop1", 2); err != nil || len(l) != 2 || l[1].Address != "u3@gmail.test" {
		t.Fatalf("ListSuppressions with limit 2 = %v, %v", l, err)
	}
}

func testDelete(t *testing.T, s suppression.Store, now time.Time) {
	mustPut(t, s, Entry("shop1", "bob@gmail.test", now))
	if err := s.DeleteSuppression(t.Context(), "shop1", "bob@Gmail.Test"); err != nil {
		t.Fatalf("DeleteSuppression: %v", err)
	}
	if _, err := s.GetSuppression(t.Context(), "shop1", "bob@gmail.test"); !errors.Is(err, suppression.ErrNotFound) {
		t.Fatalf("GetSuppression after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSuppression(t.Context(), "shop1", "bob@gmail.test"); !errors.Is(err, suppression.ErrNotFound) {
		t.Fatalf("DeleteSuppression twice: %v, want ErrNotFound", err)
	}
}

func testPurge(t *testing.T, s suppression.Store, now time.Time) {
	for i := range 3 {
		e := Entry("shop1", fmt.Sprintf("old%d@gmail.test", i), now.Add(-48*time.Hour))
		e.Expires = now.Add(-time.Duration(i+1) * time.Hour)
		mustPut(t, s, e)
	}
	old := Entry("shop2", "old@gmail.test", now.Add(-48*time.Hour))
	old.Expires = now.Add(-time.Minute)
	mustPut(t, s, old)
	mustPut(t, s, Entry("shop1", "fresh@gmail.test", now))
	mustPut(t, s, &suppression.Entry{Account: "shop1", Address: "never@gmail.test", Reason: "by hand",
		Created: now.Add(-1000 * time.Hour)})

	n, err := s.PurgeSuppressions(t.Context(), now, 2)
	if err != nil || n != 2 {
		t.Fatalf("PurgeSuppressions limit 2 = %d, %v; want 2", n, err)
	}
	n, err = s.PurgeSuppressions(t.Context(), now, 100)
	if err != nil || n != 2 {
		t.Fatalf("PurgeSuppressions again = %d, %v; want the 2 expired left", n, err)
	}
	if n, err = s.PurgeSuppressions(t.Context(), now, 100); err != nil || n != 0 {
		t.Fatalf("PurgeSuppressions with nothing expired = %d, %v", n, err)
	}
	l, err := s.ListSuppressions(t.Context(), "shop1", 0)
	if err != nil || len(l) != 2 || l[0].Address != "fresh@gmail.test" || l[1].Address != "never@gmail.test" {
		t.Fatalf("left after purge: %v, %v; want fresh and never", l, err)
	}
	if l, err := s.ListSuppressions(t.Context(), "shop2", 0); err != nil || len(l) != 0 {
		t.Fatalf("shop2 after purge: %v, %v; want none", l, err)
	}
}

// Two nodes recording the same bounce at once: both succeed, one entry.
func testConcurrentPuts(t *testing.T, s suppression.Store, now time.Time) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			errs <- s.PutSuppression(t.Context(), Entry("shop1", "bob@gmail.test", now.Add(time.Duration(i)*time.Millisecond)))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent PutSuppression: %v", err)
		}
	}
	if l, err := s.ListSuppressions(t.Context(), "shop1", 0); err != nil || len(l) != 1 {
		t.Fatalf("after concurrent puts: %d entries, %v; want 1", len(l), err)
	}
}
