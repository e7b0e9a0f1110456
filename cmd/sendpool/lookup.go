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
	return &cachedStore{store: st, accounts: lookup.NewAccounts(st, ttl, nil), domains: lookup.NewDomains(st, ttl, nil)}
}

// cachedStore is a store whose account and domain methods go through
// lookup.Accounts and lookup.Domains.
type cachedStore struct {
	store
	accounts *lookup.Accounts
	domains  *lookup.Domains
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

func (s *cachedStore) CreateDomain(ctx context.Context, d *domain.Domain) error {
	return s.domains.CreateDomain(ctx, d)
}

func (s *cachedStore) GetDomain(ctx context.Context, name string) (*domain.Domain, error) {
	return s.domains.GetDomain(ctx, name)
}

func (s *cachedStore) ListDomains(ctx context.Context, account string) ([]*domain.Domain, error) {
	return s.domains.ListDomains(ctx, account)
}

func (s *cachedStore) UpdateDomain(ctx context.Context, d *domain.Domain) error {
	return s.domains.UpdateDomain(ctx, d)
}

func (s *cachedStore) DeleteDomain(ctx context.Context, name string) error {
	return s.domains.DeleteDomain(ctx, name)
}
