package lookup

import (
	"context"
	"errors"
	"time"

	"sendpool/internal/suppression"
)

// Suppressions is a suppression.Store whose GetSuppression goes through a
// cache: intake looks up every recipient, nearly always finding nothing, at
// RCPT and again at acceptance, so "not found" is cached too. Writes go to
// the store, then forget the entry: a removal through this node's API lets
// the very next message through, and an entry its own deliveries add
// refuses the next one. An entry another node adds or removes is seen here
// within the TTL.
//
// Most accounts have no entry at all (a contact form, a small shop): that
// is cached per account as well, so their mail costs one read of the list
// an account and TTL, not one a recipient (on MongoDB it was one command
// in five per message: issue 15).
type Suppressions struct {
	store suppression.Store
	cache *Cache[*suppression.Entry]
	none  *Cache[bool] // by account: it has no entry
	ttl   time.Duration
}

var _ suppression.Store = (*Suppressions)(nil)

// NewSuppressions wraps st with a cache of ttl (0: none); now may be nil.
func NewSuppressions(st suppression.Store, ttl time.Duration, now func() time.Time) *Suppressions {
	return &Suppressions{store: st, ttl: ttl, none: New(Options[bool]{TTL: ttl, Now: now}), cache: New(Options[*suppression.Entry]{
		TTL:   ttl,
		Now:   now,
		Keep:  func(err error) bool { return errors.Is(err, suppression.ErrNotFound) },
		Clone: func(e *suppression.Entry) *suppression.Entry { c := *e; return &c },
	})}
}

// suppressionKey is the cache's key: the account and the address's key
// (an account name holds no space).
func suppressionKey(account, address string) string {
	return account + " " + suppression.Key(address)
}

// GetSuppression returns the entry, cached for the TTL; ErrNotFound without
// a read while the account is known to have none.
func (s *Suppressions) GetSuppression(ctx context.Context, account, address string) (*suppression.Entry, error) {
	if s.ttl > 0 {
		none, err := s.none.Get(ctx, account, func(ctx context.Context) (bool, error) {
			l, err := s.store.ListSuppressions(ctx, account, 1)
			return len(l) == 0, err
		})
		if err == nil && none {
			return nil, suppression.ErrNotFound
		}
	}
	return s.cache.Get(ctx, suppressionKey(account, address), func(ctx context.Context) (*suppression.Entry, error) {
		return s.store.GetSuppression(ctx, account, address)
	})
}

// PutSuppression stores the entry and forgets what was cached of it.
func (s *Suppressions) PutSuppression(ctx context.Context, e *suppression.Entry) error {
	defer s.none.Forget(e.Account)
	defer s.cache.Forget(suppressionKey(e.Account, e.Address))
	return s.store.PutSuppression(ctx, e)
}

// DeleteSuppression deletes the entry and forgets it, also after an error:
// the delete may have happened.
func (s *Suppressions) DeleteSuppression(ctx context.Context, account, address string) error {
	defer s.cache.Forget(suppressionKey(account, address))
	return s.store.DeleteSuppression(ctx, account, address)
}

// ListSuppressions is not cached.
func (s *Suppressions) ListSuppressions(ctx context.Context, account string, limit int) ([]*suppression.Entry, error) {
	return s.store.ListSuppressions(ctx, account, limit)
}

// PurgeSuppressions is not cached: it deletes only expired entries, which
// a cached copy already says are expired (suppression.Entry.Active).
func (s *Suppressions) PurgeSuppressions(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.store.PurgeSuppressions(ctx, before, limit)
}
