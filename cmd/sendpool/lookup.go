package main

import (
	"context"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/domain"
	"sendpool/internal/lookup"
)

// withLookupCache puts the node's lookup cache ([server] lookup_cache_ttl)
// in front of the store's account and domain reads, for every part of the
// node: intake, the DKIM signer, the API and panel, whose writes then
// forget what the cache holds. ttl 0: st as it is.
func withLookupCache(st store, ttl time.Duration) store {
	if ttl <= 0 {
		return st
	}
	c := &cachedStore{store: st, accounts: lookup.NewAccounts(st, ttl, nil)}
	if ds, ok := st.(domain.Store); ok {
		return &cachedDomainStore{cachedStore: c, domains: lookup.NewDomains(ds, ttl, nil)}
	}
	return c
}

// cachedStore is a store whose account methods go through lookup.Accounts.
type cachedStore struct {
	store
	accounts *lookup.Accounts
}

func (s *cachedStore) GetAccount(ctx context.Context, name string) (*account.Account, error) {
	return s.accounts.GetAccount(ctx, name)
}

func (s *cachedStore) ListAccounts(ctx context.Context) ([]*account.Account, error) {
	return s.accounts.ListAccounts(ctx)
}

func (s *cachedStore) CreateAccount(ctx context.Context, a *account.Account) error {
	return s.accounts.CreateAccount(ctx, a)
}

func (s *cachedStore) UpdateAccount(ctx context.Context, a *account.Account) error {
	return s.accounts.UpdateAccount(ctx, a)
}

func (s *cachedStore) DeleteAccount(ctx context.Context, name string) error {
	return s.accounts.DeleteAccount(ctx, name)
}

// cachedDomainStore is a cachedStore of a store that keeps domains, whose
// domain methods go through lookup.Domains.
type cachedDomainStore struct {
	*cachedStore
	domains *lookup.Domains
}

func (s *cachedDomainStore) CreateDomain(ctx context.Context, d *domain.Domain) error {
	return s.domains.CreateDomain(ctx, d)
}

func (s *cachedDomainStore) GetDomain(ctx context.Context, name string) (*domain.Domain, error) {
	return s.domains.GetDomain(ctx, name)
}

func (s *cachedDomainStore) ListDomains(ctx context.Context, account string) ([]*domain.Domain, error) {
	return s.domains.ListDomains(ctx, account)
}

func (s *cachedDomainStore) UpdateDomain(ctx context.Context, d *domain.Domain) error {
	return s.domains.UpdateDomain(ctx, d)
}

func (s *cachedDomainStore) DeleteDomain(ctx context.Context, name string) error {
	return s.domains.DeleteDomain(ctx, name)
}
