// Package accounttest is the conformance suite every account.Store passes
// (the SQLite and the MongoDB stores alike).
package accounttest

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"sendpool/internal/account"
)

// Account returns a fully populated account named name.
func Account(name string) *account.Account {
	return &account.Account{
		Name:         name,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		Domains:      []string{"acme.test", "shop.acme.test"},
		Networks:     []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::1/128")},
		Limits:       account.Limits{PerMinute: 10, PerHour: 100, PerDay: 1000, RcptPerHour: 7, SenderPerDay: 3},
		ForeignFrom:  []string{"market.test"},
		InboundHost:  "mail.acme.test:2525",
		Forwarding:   true,
		Status:       account.StatusActive,
		Created:      time.UnixMilli(1_700_000_000_123),
	}
}

// Run checks create, duplicate, get, list, update and delete on a new,
// empty store from open.
func Run(t *testing.T, open func(t *testing.T) account.Store) {
	ctx := t.Context()
	s := open(t)

	a := Account("acme")
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	if err := s.CreateAccount(ctx, Account("acme")); !errors.Is(err, account.ErrExists) {
		t.Fatalf("CreateAccount of a taken name: %v, want ErrExists", err)
	}
	if got, err := s.GetAccount(ctx, "acme"); err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("GetAccount = %+v, %v; want %+v", got, err, a)
	}

	b := Account("beta")
	b.Domains, b.Networks, b.Created, b.InboundHost, b.Forwarding = nil, nil, time.Time{}, "", false
	if err := s.CreateAccount(ctx, b); err != nil || b.Created.IsZero() {
		t.Fatalf("CreateAccount with no domains: %v (created %v)", err, b.Created)
	}
	list, err := s.ListAccounts(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "acme" || list[1].Name != "beta" {
		t.Fatalf("ListAccounts = %v, %v; want acme, beta", list, err)
	}
	if len(list[1].Domains) != 0 || len(list[1].Networks) != 0 || list[1].InboundHost != "" || list[1].Forwarding {
		t.Errorf("beta = %+v, want no domains or networks", list[1])
	}

	a.Status, a.Reason, a.Domains, a.Networks = account.StatusSuspended, "abuse report", []string{"acme.test"}, nil
	a.Limits.PerDay, a.PasswordHash, a.ForeignFrom = 5, "$argon2id$new", []string{"shop.example", "market.test"}
	a.InboundHost, a.Forwarding = "[2001:db8::25]:25", false
	if err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatalf("UpdateAccount: %v", err)
	}
	got, err := s.GetAccount(ctx, "acme")
	if err != nil || got.Status != account.StatusSuspended || got.Reason != "abuse report" || len(got.Domains) != 1 ||
		len(got.Networks) != 0 || got.Limits.PerDay != 5 || got.Limits.RcptPerHour != 7 ||
		got.PasswordHash != "$argon2id$new" || !got.Created.Equal(a.Created) ||
		!reflect.DeepEqual(got.ForeignFrom, a.ForeignFrom) || got.InboundHost != a.InboundHost || got.Forwarding {
		t.Fatalf("after update: %+v, %v", got, err)
	}
	a.ForeignFrom = nil
	if err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetAccount(ctx, "acme"); err != nil || got.ForeignFrom != nil {
		t.Fatalf("after clearing foreign_from: %+v, %v", got, err)
	}

	// A domain is one account's: the same, a parent or a subdomain of
	// another account's is refused, on create and on update.
	for _, d := range []string{"acme.test", "ACME.test", "eu.acme.test"} {
		c := Account("gamma")
		c.Domains = []string{"gamma.test", d}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAccount(ctx, c); !errors.Is(err, account.ErrDomainTaken) {
			t.Fatalf("CreateAccount with %s, acme's: %v, want ErrDomainTaken", d, err)
		}
	}
	b.Domains = []string{"beta.test", "test.acme.test"}
	if err := s.UpdateAccount(ctx, b); !errors.Is(err, account.ErrDomainTaken) {
		t.Fatalf("UpdateAccount with a subdomain of acme's: %v, want ErrDomainTaken", err)
	}
	b.Domains = []string{"beta.test"}
	if err := s.UpdateAccount(ctx, b); err != nil {
		t.Fatalf("UpdateAccount with its own domain: %v", err)
	}
	if _, err := s.GetAccount(ctx, "gamma"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("a refused account was stored: %v", err)
	}

	if err := s.UpdateAccount(ctx, Account("nobody")); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("UpdateAccount of a missing account: %v, want ErrNotFound", err)
	}
	if err := s.DeleteAccount(ctx, "acme"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if _, err := s.GetAccount(ctx, "acme"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("GetAccount after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteAccount(ctx, "acme"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("DeleteAccount twice: %v, want ErrNotFound", err)
	}
	if list, err = s.ListAccounts(ctx); err != nil || len(list) != 1 || list[0].Name != "beta" {
		t.Fatalf("ListAccounts after delete = %v, %v; want beta", list, err)
	}
}
