package lookup

import (
	"errors"
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
