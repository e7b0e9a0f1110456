package dns

import "time"

// NoCache is a Cache that keeps nothing: a Client given it asks the servers
// every time. Checks of records a customer has just published use one, so
// that an earlier "not found" cannot hide them for the negative TTL.
type NoCache struct{}

// Get finds nothing.
func (NoCache) Get(string) ([]byte, bool) { return nil, false }

// Set forgets at once.
func (NoCache) Set(string, []byte, time.Duration) {}
