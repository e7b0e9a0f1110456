// Package testclock is the tests' one settable clock (STYLE 13). It starts
// at the real time, so whatever a test hands to something that judges by
// the real clock (a cookie jar, a certificate check, a DNS TTL, Redis
// expiry, SQLite's now) sees today, not a date that becomes the past.
package testclock

import (
	"sync"
	"time"
)

// Clock is a time that moves only when a test moves it. Safe for
// concurrent use; its Now method fits every `Now func() time.Time` option.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock at the real time, in UTC, to the second (times
// round-trip through stores and wire formats unchanged).
func New() *Clock { return &Clock{t: time.Now().UTC().Truncate(time.Second)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d and returns the new time.
func (c *Clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// Set puts the clock at t: for a test whose subject is calendar logic (a
// warm-up day, a date in a rendered field) and only where nothing judged
// by the real clock ever sees it.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
