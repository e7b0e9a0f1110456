package dkim

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"sendpool/internal/domain"
	"sendpool/internal/domain/domaintest"
)

// memStore is a domain.Store in memory for the Manager's tests; it passes
// the conformance suite like the real ones.
type memStore struct {
	mu sync.Mutex
	ds map[string]*domain.Domain
}

func newMemStore() *memStore { return &memStore{ds: map[string]*domain.Domain{}} }

func TestMemStoreConformance(t *testing.T) {
	domaintest.Run(t, func(t *testing.T) domain.Store { return newMemStore() })
}

func (s *memStore) CreateDomain(_ context.Context, d *domain.Domain) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ds[d.Name]; ok {
		return domain.ErrExists
	}
	d.Version = 1
	s.ds[d.Name] = d.Clone()
	return nil
}

func (s *memStore) GetDomain(_ context.Context, name string) (*domain.Domain, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.ds[name]
	if !ok {
		return nil, domain.ErrNotFound
	}
	return d.Clone(), nil
}

func (s *memStore) ListDomains(_ context.Context, account string) ([]*domain.Domain, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []*domain.Domain{}
	for _, d := range s.ds {
		if account == "" || d.Account == account {
			out = append(out, d.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *domain.Domain) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *memStore) UpdateDomain(_ context.Context, d *domain.Domain) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.ds[d.Name]
	switch {
	case !ok:
		return domain.ErrNotFound
	case old.Version != d.Version:
		return domain.ErrConflict
	}
	d.Version++
	c := d.Clone()
	c.Created = old.Created
	s.ds[d.Name] = c
	return nil
}

func (s *memStore) DeleteDomain(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ds[name]; !ok {
		return domain.ErrNotFound
	}
	delete(s.ds, name)
	return nil
}
