// Package lookup is a node's short-lived read-through cache of the records
// every accepted message reads: its account at AUTH and again at intake,
// and its domain with the DKIM keys when it is signed, and whether each
// recipient is on the account's suppression list. Without it each
// message costs a store read per lookup (~24 µs on SQLite, a round trip on
// MongoDB).
//
// The cache is per node. A write through a wrapped store (Accounts,
// Domains) forgets the record at once, so a suspension, a password or
// limit change, a deletion or a DKIM rotation made through this node's API
// applies on this node to the next lookup. A write through another node is
// seen here once the entry expires: within the TTL.
//
// Only records are cached, never the outcome of a check: a password is
// still checked against the record's hash on every AUTH.
package lookup

import (
	"context"
	"errors"
	"sync"
	"time"
)

// DefaultMax is the default bound on a cache's entries.
const DefaultMax = 10000

// Options configure a Cache.
type Options[V any] struct {
	// TTL is how long a loaded value is used; 0 or less: no caching, every
	// Get loads.
	TTL time.Duration
	// Max bounds the entries; 0: DefaultMax.
	Max int
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Keep reports whether a load's error is an answer to cache like a
	// value (a "not found"); other errors are returned and not cached.
	// nil: no error is cached.
	Keep func(error) bool
	// Clone copies a value for each caller, so that one who changes what
	// it got does not change the cached value; nil: values are shared.
	Clone func(V) V
}

// Cache maps string keys to values loaded on a miss. Concurrent misses of
// one key share one load. It is safe for concurrent use.
type Cache[V any] struct {
	opt Options[V]

	mu      sync.Mutex
	entries map[string]entry[V]
	flights map[string]*flight[V]
}

type entry[V any] struct {
	v       V
	err     error
	expires time.Time
}

// flight is a load in progress; done is closed once v and err are set.
type flight[V any] struct {
	done chan struct{}
	v    V
	err  error
}

// New returns a Cache.
func New[V any](opt Options[V]) *Cache[V] {
	if opt.Max <= 0 {
		opt.Max = DefaultMax
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Cache[V]{opt: opt, entries: map[string]entry[V]{}, flights: map[string]*flight[V]{}}
}

// Get returns key's value: the cached one while it is fresh, else what load
// returns. If key is being loaded already, Get waits for that load rather
// than starting its own (twenty sessions of one account missing at once
// make one read).
func (c *Cache[V]) Get(ctx context.Context, key string, load func(context.Context) (V, error)) (V, error) {
	if c.opt.TTL <= 0 {
		return load(ctx)
	}
	for {
		c.mu.Lock()
		now := c.opt.Now()
		if e, ok := c.entries[key]; ok && now.Before(e.expires) {
			c.mu.Unlock()
			return c.out(e.v, e.err)
		}
		f, busy := c.flights[key]
		if !busy {
			f = &flight[V]{done: make(chan struct{})}
			c.flights[key] = f
			c.mu.Unlock()
			return c.lead(ctx, key, f, load)
		}
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
		// The leader's context ended its load, not ours: load again.
		if isCtxErr(f.err) && ctx.Err() == nil {
			continue
		}
		return c.out(f.v, f.err)
	}
}

// lead runs the load of flight f and shares its result.
func (c *Cache[V]) lead(ctx context.Context, key string, f *flight[V], load func(context.Context) (V, error)) (V, error) {
	f.v, f.err = load(ctx)
	c.mu.Lock()
	// Forget removes the flight of a key it drops: a load that began before
	// a write may have read what the write replaced, so it is not kept.
	if c.flights[key] == f {
		delete(c.flights, key)
		if f.err == nil || (c.opt.Keep != nil && c.opt.Keep(f.err)) {
			c.store(key, entry[V]{v: f.v, err: f.err, expires: c.opt.Now().Add(c.opt.TTL)})
		}
	}
	c.mu.Unlock()
	close(f.done)
	return c.out(f.v, f.err)
}

// store adds e under key, making room first if the cache is full: expired
// entries go, then, until a tenth of Max is free, others at random (map
// order). Freeing a tenth at once matters for a cache kept full by many
// keys (the suppression lookups, one per recipient): it scans its map once
// every Max/10 stores rather than at every one.
func (c *Cache[V]) store(key string, e entry[V]) {
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.opt.Max {
		now := c.opt.Now()
		for k, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, k)
			}
		}
		keep := c.opt.Max - max(1, c.opt.Max/10)
		for k := range c.entries {
			if len(c.entries) <= keep {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = e
}

// Forget drops key's value and any load of it in progress (its callers
// still get its result, but it is not cached). Call it after a write to
// key's record has returned: the next Get reads the record again.
func (c *Cache[V]) Forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
	delete(c.flights, key)
}

// Len is the number of entries, fresh or not.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// out hands v to one caller.
func (c *Cache[V]) out(v V, err error) (V, error) {
	if err != nil {
		var zero V
		return zero, err
	}
	if c.opt.Clone != nil {
		v = c.opt.Clone(v)
	}
	return v, nil
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
