// Package recipient is each account's list of the addresses that exist
// at its inbound_host, for an MX whose recipients are verified by list
// (inbound.recipients = "list", SPEC §7): an address not on it is refused
// at RCPT, before DATA, so that nothing bounces later (no backscatter).
package recipient

import (
	"context"
	"errors"
	"strings"
)

// ErrNotFound: the address is not on the list.
var ErrNotFound = errors.New("recipient: not found")

// Store keeps the lists durably (the SQLite and MongoDB stores alike,
// held to recipienttest).
type Store interface {
	// AddRecipient puts address on the account's list (again: no change).
	AddRecipient(ctx context.Context, account, address string) error
	// RemoveRecipient takes it off; ErrNotFound if it is not there.
	RemoveRecipient(ctx context.Context, account, address string) error
	// ListRecipients returns the account's list, sorted.
	ListRecipients(ctx context.Context, account string) ([]string, error)
	// HasRecipient reports whether address is on the account's list.
	HasRecipient(ctx context.Context, account, address string) (bool, error)
}

// Key is an address as the lists keep it: lower case. RFC 5321 §2.4 lets
// a local part be case-sensitive, but no mailbox host hosting customers
// tells User@ from user@, and a sender's capitals must not bounce.
func Key(address string) string { return strings.ToLower(strings.TrimSpace(address)) }
