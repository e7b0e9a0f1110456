package config

import "time"

// Suppression is each account's list of recipients that do not exist
// (internal/suppression): a delivery that bounces with a permanent
// bad-mailbox reply (5.1.1 "user unknown" and the like) puts its recipient
// on its account's list, and the account's next message to it is refused
// at RCPT (550 5.1.1) instead of going out from the pool again.
type Suppression struct {
	// TTL is how long an entry lasts; "0s" turns suppression off: nothing
	// is added and intake consults no list (the list and its API stay).
	TTL Duration `toml:"ttl"`
}

// How often every node deletes expired entries, and how many one store
// call deletes at most (FerretDB has no TTL indexes to do it).
const (
	SuppressionSweepInterval = 10 * time.Minute
	SuppressionSweepBatch    = 1000
)

func defaultSuppression() Suppression {
	return Suppression{TTL: Duration(720 * time.Hour)}
}

// validateSuppression checks [suppression].
func (c *Config) validateSuppression(bad func(key, format string, args ...any)) {
	if c.Suppression.TTL < 0 {
		bad("suppression.ttl", "must not be negative (\"0s\" turns suppression off)")
	}
}
