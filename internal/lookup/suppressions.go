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
// Most accounts have no entry at all (a contact form, a small shop), or a
// few (the addresses their mail once bounced from). For those the keys of
// the whole list are cached per account as well, so their mail costs one
// read of the list an account and TTL, not one a recipient (on MongoDB
// that was one command in five per message: issue 15); only a recipient
// in the list is then read by key. An account with more than wholeList
// entries is looked up by recipient, that fact cached for the TTL too.
type Suppressions struct {
	store suppression.Store
	cache *Cache[*suppression.Entry]
	// keys holds, by account, the keys of all its entries; a nil map when
	// it has more than wholeList.
	keys *Cache[map[string]bool]
	ttl  time.Duration
}

// wholeList is the most entries an account may have for its list's keys to
// be cached (a read of wholeList+1 entries tells); wholeListAccounts bounds
// how many accounts' keys are kept: 1,000 × 32 keys, about 2.5 MB, and
// 10 MB should every address be of the longest (254 bytes, RFC 5321
// §4.5.3.1.3).
const (
	wholeList         = 32
	wholeListAccounts = 1000
)

var _ suppression.Store = (*Suppressions)(nil)

// NewSuppressions wraps st with a cache of ttl (0: none); now may be nil.
func NewSuppressions(st suppression.Store, ttl time.Duration, now func() time.Time) *Suppressions {
	return &Suppressions{store: st, ttl: ttl, keys: New(Options[map[string]bool]{TTL: ttl, Max: wholeListAccounts, Now: now}), cache: New(Options[*suppression.Entry]{
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
// a read while the account's whole list is known and lacks the address.
func (s *Suppressions) GetSuppression(ctx context.Context, account, address string) (*suppression.Entry, error) {
	if s.ttl > 0 {
		keys, err := s.keys.Get(ctx, account, func(ctx context.Context) (map[string]bool, error) {
			l, err := s.store.ListSuppressions(ctx, account, wholeList+1)
			if err != nil || len(l) > wholeList {
				return nil, err
			}
			keys := make(map[string]bool, len(l))
			for _, e := range l {
				keys[suppression.Key(e.Address)] = true
			}
			return keys, nil
		})
		if err == nil && keys != nil && !keys[suppression.Key(address)] {
			return nil, suppression.ErrNotFound
		}
	}
	return s.cache.Get(ctx, suppressionKey(account, address), func(ctx context.Context) (*suppression.Entry, error) {
		return s.store.GetSuppression(ctx, account, address)
	})
}

// PutSuppression stores the entry and forgets what was cached of it.
func (s *Suppressions) PutSuppression(ctx context.Context, e *suppression.Entry) error {
	defer s.keys.Forget(e.Account)
	defer s.cache.Forget(suppressionKey(e.Account, e.Address))
	return s.store.PutSuppression(ctx, e)
}

// DeleteSuppression deletes the entry and forgets it, also after an error:
// the delete may have happened.
func (s *Suppressions) DeleteSuppression(ctx context.Context, account, address string) error {
	defer s.keys.Forget(account)
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
