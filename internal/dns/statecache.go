package dns

import (
	"cmp"
	"context"
	"time"

	"sendpool/internal/state"
)

// StateCache is a Cache kept in a state.State, so that nodes sharing a
// state (Redis) share their DNS answers: one node's lookup serves every
// node until the record's TTL (capped by Options.MaxTTL) runs out. The
// expiry also travels inside each value (encodeAnswer), so a state that
// kept a value too long still could not serve it past its TTL.
type StateCache struct {
	State state.State
	// Timeout bounds each call, so that a slow or absent state costs a
	// lookup a cache miss, not a stall. Default 250ms.
	Timeout time.Duration
}

var _ Cache = StateCache{}

// DefaultStateCacheTimeout is StateCache's default Timeout.
const DefaultStateCacheTimeout = 250 * time.Millisecond

// Get implements Cache; an error is a miss.
func (c StateCache) Get(key string) ([]byte, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(c.Timeout, DefaultStateCacheTimeout))
	defer cancel()
	v, ok, err := c.State.Get(ctx, key)
	if err != nil {
		return nil, false
	}
	return v, ok
}

// Set implements Cache; an error leaves the answer uncached.
func (c StateCache) Set(key string, value []byte, ttl time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(c.Timeout, DefaultStateCacheTimeout))
	defer cancel()
	_ = c.State.Set(ctx, key, value, ttl)
}
