// Package recipienttest is the conformance suite every recipient.Store
// passes (the SQLite and the MongoDB stores alike).
package recipienttest

import (
	"errors"
	"reflect"
	"testing"

	"sendpool/internal/recipient"
)

// Run checks add, list, has and remove on a new, empty store from open.
func Run(t *testing.T, open func(t *testing.T) recipient.Store) {
	ctx := t.Context()
	s := open(t)
	for _, a := range []string{"b@acme.test", "A@acme.test", "a@acme.test"} {
		if err := s.AddRecipient(ctx, "acme", a); err != nil {
			t.Fatalf("AddRecipient %s: %v", a, err)
		}
	}
	if err := s.AddRecipient(ctx, "beta", "x@beta.test"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ListRecipients(ctx, "acme"); err != nil || !reflect.DeepEqual(got, []string{"a@acme.test", "b@acme.test"}) {
		t.Fatalf("ListRecipients = %v, %v; want a@, b@ (one entry per address whatever its case)", got, err)
	}
	if got, err := s.ListRecipients(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Fatalf("ListRecipients of an account without a list = %v, %v", got, err)
	}
	for _, c := range []struct {
		account, address string
		want             bool
	}{{"acme", "a@acme.test", true}, {"acme", "B@ACME.test", true}, {"acme", "c@acme.test", false},
		{"beta", "a@acme.test", false}, {"beta", "x@beta.test", true}} {
		if got, err := s.HasRecipient(ctx, c.account, c.address); err != nil || got != c.want {
			t.Errorf("HasRecipient(%s, %s) = %v, %v; want %v", c.account, c.address, got, err, c.want)
		}
	}
	if err := s.RemoveRecipient(ctx, "acme", "A@acme.test"); err != nil {
		t.Fatalf("RemoveRecipient: %v", err)
	}
	if err := s.RemoveRecipient(ctx, "acme", "a@acme.test"); !errors.Is(err, recipient.ErrNotFound) {
		t.Fatalf("RemoveRecipient twice: %v, want ErrNotFound", err)
	}
	if ok, err := s.HasRecipient(ctx, "acme", "a@acme.test"); err != nil || ok {
		t.Fatalf("a removed address is still there: %v, %v", ok, err)
	}
	if got, err := s.ListRecipients(ctx, "acme"); err != nil || !reflect.DeepEqual(got, []string{"b@acme.test"}) {
		t.Fatalf("ListRecipients after remove = %v, %v", got, err)
	}
}
