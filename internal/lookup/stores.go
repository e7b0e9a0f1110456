package lookup

import (
	"context"
	"errors"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/domain"
)

// Accounts is an account.Store whose GetAccount goes through a cache.
// Accounts that do not exist are cached too (a client retrying with an
// unknown name). Writes go to the store, then forget the account.
type Accounts struct {
	store account.Store
	cache *Cache[*account.Account]
}

// NewAccounts wraps st with a cache of ttl (0: none); now may be nil.
func NewAccounts(st account.Store, ttl time.Duration, now func() time.Time) *Accounts {
	return &Accounts{store: st, cache: New(Options[*account.Account]{
		TTL:   ttl,
		Now:   now,
		Keep:  func(err error) bool { return errors.Is(err, account.ErrNotFound) },
		Clone: (*account.Account).Clone, // never nil: an error comes with no value
	})}
}

// GetAccount returns the account, cached for the TTL.
func (s *Accounts) GetAccount(ctx context.Context, name string) (*account.Account, error) {
	return s.cache.Get(ctx, name, func(ctx context.Context) (*account.Account, error) {
		return s.store.GetAccount(ctx, name)
	})
}

// ListAccounts is not cached.
func (s *Accounts) ListAccounts(ctx context.Context) ([]*account.Account, error) {
	return s.store.ListAccounts(ctx)
}

// CreateAccount creates the account and forgets that it did not exist.
func (s *Accounts) CreateAccount(ctx context.Context, a *account.Account) error {
	defer s.cache.Forget(a.Name)
	return s.store.CreateAccount(ctx, a)
}

// UpdateAccount updates the account and forgets it, also after an error:
// the write may have happened.
func (s *Accounts) UpdateAccount(ctx context.Context, a *account.Account) error {
	defer s.cache.Forget(a.Name)
	return s.store.UpdateAccount(ctx, a)
}

// DeleteAccount deletes the account and forgets it.
func (s *Accounts) DeleteAccount(ctx context.Context, name string) error {
	defer s.cache.Forget(name)
	return s.store.DeleteAccount(ctx, name)
}

// Domains is a domain.Store whose GetDomain goes through a cache: the DKIM
// signer reads the From domain and, for a subdomain, its parents, most of
// which do not exist, so "not found" is cached too. Writes go to the store,
// then forget the domain.
//
// A key rotated or activated through another node is used here within the
// TTL; until then the key it replaces signs, whose record stays published
// (domain.Retired, dkim.retire_after), so those signatures still verify.
type Domains struct {
	store domain.Store
	cache *Cache[*domain.Domain]
}

// NewDomains wraps st with a cache of ttl (0: none); now may be nil.
func NewDomains(st domain.Store, ttl time.Duration, now func() time.Time) *Domains {
	return &Domains{store: st, cache: New(Options[*domain.Domain]{
		TTL:   ttl,
		Now:   now,
		Keep:  func(err error) bool { return errors.Is(err, domain.ErrNotFound) },
		Clone: (*domain.Domain).Clone,
	})}
}

// GetDomain returns the domain, cached for the TTL.
func (s *Domains) GetDomain(ctx context.Context, name string) (*domain.Domain, error) {
	return s.cache.Get(ctx, name, func(ctx context.Context) (*domain.Domain, error) {
		return s.store.GetDomain(ctx, name)
	})
}

// ListDomains is not cached.
func (s *Domains) ListDomains(ctx context.Context, account string) ([]*domain.Domain, error) {
	return s.store.ListDomains(ctx, account)
}

// CreateDomain creates the domain and forgets that it did not exist.
func (s *Domains) CreateDomain(ctx context.Context, d *domain.Domain) error {
	defer s.cache.Forget(d.Name)
	return s.store.CreateDomain(ctx, d)
}

// UpdateDomain updates the domain and forgets it, also after an error: after
// domain.ErrConflict (the cached copy was stale) the retry reads it afresh.
func (s *Domains) UpdateDomain(ctx context.Context, d *domain.Domain) error {
	defer s.cache.Forget(d.Name)
	return s.store.UpdateDomain(ctx, d)
}

// DeleteDomain deletes the domain and forgets it.
func (s *Domains) DeleteDomain(ctx context.Context, name string) error {
	defer s.cache.Forget(name)
	return s.store.DeleteDomain(ctx, name)
}
