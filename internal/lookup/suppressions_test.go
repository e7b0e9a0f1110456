package lookup

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"sendpool/internal/suppression"
	"sendpool/internal/suppression/suppressiontest"
)

// TestSuppressionsWriteThroughNode: two nodes over one store. An entry
// added or removed through a node applies to that node's next lookup at
// once (a "not found" it cached is forgotten), to the other node's once
// its cached answer expires; the domain's case makes no second entry.
func TestSuppressionsWriteThroughNode(t *testing.T) {
	st := openStore(t)
	ctx := t.Context()
	ca, cb := newClock(), newClock()
	a, b := NewSuppressions(st, 5*time.Second, ca.Now), NewSuppressions(st, 5*time.Second, cb.Now)
	notFound := func(s *Suppressions, addr string) bool {
		_, err := s.GetSuppression(ctx, "shop1", addr)
		return errors.Is(err, suppression.ErrNotFound)
	}
	if !notFound(a, "bob@gmail.test") || !notFound(b, "bob@gmail.test") {
		t.Fatal("an entry before any was added")
	}
	if err := a.PutSuppression(ctx, suppressiontest.Entry("shop1", "bob@gmail.test", ca.Clock.Now())); err != nil {
		t.Fatal(err)
	}
	if notFound(a, "bob@GMAIL.test") {
		t.Fatal("the node that added the entry does not see it")
	}
	if !notFound(b, "bob@gmail.test") {
		t.Fatal("the other node's cached answer was not used")
	}
	cb.Add(6 * time.Second)
	if notFound(b, "bob@gmail.test") {
		t.Fatal("the other node does not see the entry after the TTL")
	}

	// A caller changing what it got changes nothing cached.
	e, _ := a.GetSuppression(ctx, "shop1", "bob@gmail.test")
	e.Reply = "changed"
	if e, _ := a.GetSuppression(ctx, "shop1", "bob@gmail.test"); e.Reply == "changed" {
		t.Fatal("the cached entry was changed through a copy")
	}

	if err := a.DeleteSuppression(ctx, "shop1", "bob@Gmail.test"); err != nil {
		t.Fatal(err)
	}
	if !notFound(a, "bob@gmail.test") {
		t.Fatal("the node that removed the entry still finds it")
	}
	if notFound(b, "bob@gmail.test") {
		t.Fatal("the other node dropped its cached entry before the TTL")
	}
	cb.Add(6 * time.Second)
	if !notFound(b, "bob@gmail.test") {
		t.Fatal("the other node still finds the entry after the TTL")
	}
	if err := a.DeleteSuppression(ctx, "shop1", "bob@gmail.test"); !errors.Is(err, suppression.ErrNotFound) {
		t.Fatalf("DeleteSuppression twice: %v", err)
	}
}

// readsCounted counts a suppression store's reads.
type readsCounted struct {
	suppression.Store
	reads atomic.Int64
}

func (r *readsCounted) GetSuppression(ctx context.Context, account, address string) (*suppression.Entry, error) {
	r.reads.Add(1)
	return r.Store.GetSuppression(ctx, account, address)
}

func (r *readsCounted) ListSuppressions(ctx context.Context, account string, limit int) ([]*suppression.Entry, error) {
	r.reads.Add(1)
	return r.Store.ListSuppressions(ctx, account, limit)
}

// TestSuppressionsWholeList: the recipients of an account with no entry,
// or with a few, cost one read of the store for the TTL, however many (and
// one more for a recipient that is listed); an account with more than
// wholeList entries is looked up by recipient; an entry added or removed
// through the node counts at once, through another node within the TTL;
// with no TTL every lookup reads the store once.
func TestSuppressionsWholeList(t *testing.T) {
	st := &readsCounted{Store: openStore(t)}
	ctx := t.Context()
	ca, cb := newClock(), newClock()
	a, b := NewSuppressions(st, 5*time.Second, ca.Now), NewSuppressions(st, 5*time.Second, cb.Now)
	found := func(s *Suppressions, account, addr string) bool {
		_, err := s.GetSuppression(ctx, account, addr)
		if err != nil && !errors.Is(err, suppression.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	put := func(account, addr string) {
		if err := st.PutSuppression(ctx, suppressiontest.Entry(account, addr, ca.Clock.Now())); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		put("few", fmt.Sprintf("gone%d@gmail.test", i))
	}
	for i := range wholeList + 1 {
		put("many", fmt.Sprintf("gone%d@gmail.test", i))
	}

	for i := range 100 {
		if found(a, "clean", fmt.Sprintf("r%d@gmail.test", i)) {
			t.Fatal("an entry for an account without any")
		}
	}
	if n := st.reads.Load(); n != 1 {
		t.Fatalf("100 recipients of an account without entries: %d reads, want 1", n)
	}
	st.reads.Store(0)
	for i := range 100 {
		if found(a, "few", fmt.Sprintf("r%d@gmail.test", i)) {
			t.Fatal("an entry for an address not listed")
		}
	}
	if !found(a, "few", "gone1@GMAIL.test") {
		t.Fatal("a listed address not found (its domain in another case)")
	}
	if n := st.reads.Load(); n != 2 {
		t.Fatalf("101 recipients of an account with 3 entries, one of them listed: %d reads, want 2 (the list, then the listed one)", n)
	}
	st.reads.Store(0)
	if !found(a, "many", "gone0@gmail.test") || found(a, "many", "r1@gmail.test") || found(a, "many", "r2@gmail.test") {
		t.Fatal("an account with many entries: wrong answers")
	}
	if n := st.reads.Load(); n != 4 {
		t.Fatalf("3 recipients of an account with %d entries: %d reads, want 4 (the list, then each)", wholeList+1, n)
	}

	// Through node a at once; node b within the TTL.
	found(b, "clean", "x@gmail.test") // b knows "clean" has none
	found(b, "few", "x@gmail.test")   // and "few"'s three
	if err := a.PutSuppression(ctx, suppressiontest.Entry("clean", "new@gmail.test", ca.Clock.Now())); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteSuppression(ctx, "few", "gone2@gmail.test"); err != nil {
		t.Fatal(err)
	}
	if !found(a, "clean", "new@gmail.test") || found(a, "few", "gone2@gmail.test") {
		t.Fatal("the node that added or removed an entry does not see it at once")
	}
	if found(b, "clean", "new@gmail.test") {
		t.Fatal("the other node did not use what it knew within the TTL")
	}
	cb.Add(6 * time.Second)
	if !found(b, "clean", "new@gmail.test") || found(b, "few", "gone2@gmail.test") {
		t.Fatal("the other node does not see the changes after the TTL")
	}

	st.reads.Store(0)
	uncached := NewSuppressions(st, 0, nil)
	for i := range 3 {
		found(uncached, "clean", fmt.Sprintf("u%d@gmail.test", i))
	}
	if n := st.reads.Load(); n != 3 {
		t.Fatalf("no TTL: %d reads for 3 lookups, want 3", n)
	}
}
