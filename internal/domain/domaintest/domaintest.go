// Package domaintest is the conformance suite every domain.Store passes:
// the SQLite store and the MongoDB store run the same tests (DESIGN
// "Seams"). Times are compared at millisecond precision.
package domaintest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"sendpool/internal/domain"
)

// Run runs the suite; open returns a new, empty store for each subtest (and
// arranges its cleanup with t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) domain.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s domain.Store)
	}{
		{"CreateThenGetKeepsEveryField", testRoundTrip},
		{"CreateTakenIsExists", testExists},
		{"MissingIsNotFound", testMissing},
		{"ListByNameAndAccount", testList},
		{"UpdateReplacesKeysAndBumpsVersion", testUpdate},
		{"UpdateWithStaleVersionIsConflict", testConflict},
		{"ConcurrentUpdatesOneWins", testConcurrentUpdates},
		{"DeleteRemovesKeys", testDelete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// base is a time with milliseconds, as every store keeps them.
var base = time.UnixMilli(1_760_000_000_123).UTC()

// NewDomain returns a domain with an active and a pending key of each
// algorithm (fake key material: stores do not parse it).
func NewDomain(name, account string) *domain.Domain {
	key := func(sel string, alg domain.Algorithm, st domain.KeyState, off time.Duration) domain.Key {
		k := domain.Key{
			Selector: sel, Algorithm: alg, State: st, Created: base.Add(off),
			PrivateKey: "-----BEGIN PRIVATE KEY-----\n" + sel + "\n-----END PRIVATE KEY-----\n",
			PublicKey:  "cHVi" + sel,
		}
		if st != domain.Pending {
			k.ActivatedAt = base.Add(off + time.Minute)
		}
		if st == domain.Retired {
			k.RetiredAt = base.Add(off + time.Hour)
		}
		return k
	}
	return &domain.Domain{
		Name: name, Account: account, Created: base,
		Keys: []domain.Key{
			key("sp202601r", domain.RSA, domain.Retired, 0),
			key("sp202601e", domain.Ed25519, domain.Active, time.Second),
			key("sp202602r", domain.RSA, domain.Active, 2*time.Second),
			key("sp202602e", domain.Ed25519, domain.Pending, 3*time.Second),
		},
		Published: []domain.Published{
			{Type: "TXT", Name: name, Value: "include:_spf.relay.test", Merged: true, Publisher: "rfc2136:test"},
			{Type: "TXT", Name: "_dmarc." + name, Value: "v=DMARC1; p=none", Publisher: "rfc2136:test"},
		},
	}
}

func create(t *testing.T, s domain.Store, d *domain.Domain) *domain.Domain {
	t.Helper()
	if err := s.CreateDomain(t.Context(), d); err != nil {
		t.Fatalf("CreateDomain(%s): %v", d.Name, err)
	}
	return d
}

func get(t *testing.T, s domain.Store, name string) *domain.Domain {
	t.Helper()
	d, err := s.GetDomain(t.Context(), name)
	if err != nil {
		t.Fatalf("GetDomain(%s): %v", name, err)
	}
	return d
}

// same fails unless got and want hold the same values (times compared as
// instants).
func same(t *testing.T, what string, got, want *domain.Domain) {
	t.Helper()
	if g, w := describe(got), describe(want); g != w {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func describe(d *domain.Domain) string {
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	s := fmt.Sprintf("{%s account=%s created=%d version=%d keys=[", d.Name, d.Account, ms(d.Created), d.Version)
	for _, k := range d.Keys {
		s += fmt.Sprintf("{%s %s %s created=%d activated=%d retired=%d pub=%q priv=%q} ",
			k.Selector, k.Algorithm, k.State, ms(k.Created), ms(k.ActivatedAt), ms(k.RetiredAt), k.PublicKey, k.PrivateKey)
	}
	s += "] published=["
	for _, p := range d.Published {
		s += fmt.Sprintf("{%s %s %q merged=%v %s} ", p.Type, p.Name, p.Value, p.Merged, p.Publisher)
	}
	return s + "]}"
}

func testRoundTrip(t *testing.T, s domain.Store) {
	d := create(t, s, NewDomain("shop.test", "shop"))
	if d.Version != 1 {
		t.Fatalf("Version after CreateDomain %d, want 1", d.Version)
	}
	same(t, "GetDomain", get(t, s, "shop.test"), d)
}

func testExists(t *testing.T, s domain.Store) {
	create(t, s, NewDomain("shop.test", "shop"))
	err := s.CreateDomain(t.Context(), NewDomain("shop.test", "other"))
	if !errors.Is(err, domain.ErrExists) {
		t.Fatalf("CreateDomain of a taken name: %v, want ErrExists", err)
	}
	if got := get(t, s, "shop.test"); got.Account != "shop" {
		t.Fatalf("account %q after refused create, want shop", got.Account)
	}
}

func testMissing(t *testing.T, s domain.Store) {
	ctx := t.Context()
	if _, err := s.GetDomain(ctx, "none.test"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("GetDomain: %v, want ErrNotFound", err)
	}
	d := NewDomain("none.test", "x")
	d.Version = 1
	if err := s.UpdateDomain(ctx, d); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("UpdateDomain: %v, want ErrNotFound", err)
	}
	if err := s.DeleteDomain(ctx, "none.test"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("DeleteDomain: %v, want ErrNotFound", err)
	}
	ds, err := s.ListDomains(ctx, "")
	if err != nil || len(ds) != 0 {
		t.Fatalf("ListDomains of an empty store: %d, %v", len(ds), err)
	}
}

func testList(t *testing.T, s domain.Store) {
	for _, d := range []*domain.Domain{
		NewDomain("c.test", "one"), NewDomain("a.test", "two"), NewDomain("b.test", "one"),
	} {
		create(t, s, d)
	}
	names := func(account string) string {
		ds, err := s.ListDomains(t.Context(), account)
		if err != nil {
			t.Fatalf("ListDomains(%q): %v", account, err)
		}
		out := ""
		for _, d := range ds {
			out += d.Name + " "
			if len(d.Keys) != 4 {
				t.Fatalf("ListDomains: %s has %d keys, want 4", d.Name, len(d.Keys))
			}
		}
		return out
	}
	if got := names(""); got != "a.test b.test c.test " {
		t.Fatalf("ListDomains(all) = %q", got)
	}
	if got := names("one"); got != "b.test c.test " {
		t.Fatalf("ListDomains(one) = %q", got)
	}
	if got := names("none"); got != "" {
		t.Fatalf("ListDomains(none) = %q", got)
	}
}

func testUpdate(t *testing.T, s domain.Store) {
	create(t, s, NewDomain("shop.test", "shop"))
	d := get(t, s, "shop.test")
	d.Account = "shop2"
	d.Keys = d.Keys[1:]
	d.Keys[0].State = domain.Retired
	d.Keys[0].RetiredAt = base.Add(48 * time.Hour)
	d.Keys = append(d.Keys, domain.Key{Selector: "sp202603r", Algorithm: domain.RSA, State: domain.Pending,
		Created: base.Add(72 * time.Hour), PrivateKey: "priv", PublicKey: "pub"})
	d.Published = append(d.Published[1:], domain.Published{Type: "TXT", Name: "sp202603r._domainkey.shop.test",
		Value: "v=DKIM1; k=rsa; p=pub", Publisher: "pdns:test"})
	if err := s.UpdateDomain(t.Context(), d); err != nil {
		t.Fatalf("UpdateDomain: %v", err)
	}
	if d.Version != 2 {
		t.Fatalf("Version after update %d, want 2", d.Version)
	}
	same(t, "GetDomain after update", get(t, s, "shop.test"), d)
}

func testConflict(t *testing.T, s domain.Store) {
	create(t, s, NewDomain("shop.test", "shop"))
	a, b := get(t, s, "shop.test"), get(t, s, "shop.test")
	a.Keys = a.Keys[:1]
	if err := s.UpdateDomain(t.Context(), a); err != nil {
		t.Fatalf("first UpdateDomain: %v", err)
	}
	b.Keys = nil
	if err := s.UpdateDomain(t.Context(), b); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("UpdateDomain with a stale version: %v, want ErrConflict", err)
	}
	same(t, "GetDomain after the conflict", get(t, s, "shop.test"), a)
}

func testConcurrentUpdates(t *testing.T, s domain.Store) {
	create(t, s, NewDomain("shop.test", "shop"))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	ds := make([]*domain.Domain, n)
	for i := range n {
		ds[i] = get(t, s, "shop.test") // all read before any writes
	}
	for i, d := range ds {
		wg.Go(func() {
			d.Account = fmt.Sprintf("writer%d", i)
			errs[i] = s.UpdateDomain(t.Context(), d)
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, domain.ErrConflict):
			t.Fatalf("writer %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent updates of one version succeeded, want 1", won, n)
	}
	if v := get(t, s, "shop.test").Version; v != 2 {
		t.Fatalf("Version %d after one successful update, want 2", v)
	}
}

func testDelete(t *testing.T, s domain.Store) {
	create(t, s, NewDomain("shop.test", "shop"))
	create(t, s, NewDomain("keep.test", "shop"))
	if err := s.DeleteDomain(t.Context(), "shop.test"); err != nil {
		t.Fatalf("DeleteDomain: %v", err)
	}
	if _, err := s.GetDomain(t.Context(), "shop.test"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("GetDomain after delete: %v, want ErrNotFound", err)
	}
	// Made again, the name has only its new keys.
	d := NewDomain("shop.test", "shop")
	d.Keys = d.Keys[3:]
	create(t, s, d)
	same(t, "GetDomain of the domain made again", get(t, s, "shop.test"), d)
	if got := get(t, s, "keep.test"); len(got.Keys) != 4 {
		t.Fatalf("other domain has %d keys after a delete, want 4", len(got.Keys))
	}
}
