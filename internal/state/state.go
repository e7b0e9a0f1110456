// Package state is the shared state of sendpool nodes: rate counters with
// exact sliding windows, IP suspensions, a cache with TTLs, bounded lists
// and bounded sets of recent sightings. One node keeps it in memory;
// several share it through Redis (state/redis). Both implementations pass
// the same conformance suite (state/statetest).
package state

import (
	"context"
	"time"
)

// Window is one limit: at most Max events in any span of Size.
type Window struct {
	Size time.Duration
	Max  int
}

// Decision is the answer of Take.
type Decision struct {
	Allowed bool
	// When refused: the first window that would be exceeded, how many
	// events it already holds, and when enough of them age out for the
	// events asked for to fit.
	Window Window
	Count  int
	Frees  time.Time
}

// Suspension takes an IP out of the pool, for every destination (Scope
// "pool") or for one provider (Scope is the provider's name).
type Suspension struct {
	IP     string    `json:"ip"`
	Scope  string    `json:"scope"`
	Reason string    `json:"reason"`
	Source string    `json:"source"` // "receiver", "dnsbl" or "admin"
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until"`
}

// ScopePool is the scope of a suspension from every destination.
const ScopePool = "pool"

// State is the shared state. Every method is safe for concurrent use, and
// across nodes when the implementation is shared.
type State interface {
	// Take records n events at now under key, atomically, if after them
	// every window still holds at most its Max events in (now-Size, now];
	// otherwise it records nothing and says which window refused. The
	// windows are exact (a log of event times), not fixed buckets that let
	// a burst through at a boundary. n may be 0: a check that records
	// nothing (internal/authguard relies on it).
	Take(ctx context.Context, key string, n int, now time.Time, windows []Window) (Decision, error)
	// Count returns how many events key holds in (now-window, now].
	Count(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)

	// Suspend records s (replacing one for the same IP and scope).
	Suspend(ctx context.Context, s Suspension) error
	// Resume ends the suspension of ip for scope ("" ends every scope).
	Resume(ctx context.Context, ip, scope string) error
	// Suspensions returns those in force at now.
	Suspensions(ctx context.Context, now time.Time) ([]Suspension, error)

	// Get and Set are a cache: a value is gone once its ttl has passed.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Record adds values, oldest first, to the front of the list under key
	// and keeps only its newest keep entries; the list is gone ttl after
	// its last Record. It keeps recent history (replies per IP, intake
	// events) that every node writes and every node shows.
	Record(ctx context.Context, key string, keep int, ttl time.Duration, values ...[]byte) error
	// Recent returns up to n entries of the list under key, newest first.
	Recent(ctx context.Context, key string, n int) ([][]byte, error)

	// Seen notes that member of the set under key was seen at at (a later
	// sighting already noted stays), drops the members last seen at or
	// before at-ttl, keeps only the keep most recently seen, and lets the
	// whole set go ttl after this call. Each member is there once however
	// often it is seen, so one busy member cannot push the others out
	// (internal/authguard keeps the IPs that logged in to an account).
	Seen(ctx context.Context, key, member string, at time.Time, keep int, ttl time.Duration) error
	// LastSeen returns when member was last seen under key, false if it
	// is not in the set. The caller judges the age: a member older than
	// the ttl may still be there until the next Seen trims the set.
	LastSeen(ctx context.Context, key, member string) (time.Time, bool, error)

	Close() error
}
