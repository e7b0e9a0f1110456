// Package suppression is each account's list of recipients that do not
// exist: once a receiver has said, permanently, that a mailbox is unknown
// or disabled, the account's next message to it is refused at intake
// instead of spending the shared pool's reputation on it again (receivers
// count mail to unknown users against the sending IP).
//
// The list lives in the store, so that every node sharing it sees it; the
// SQLite and the MongoDB stores implement Store and pass suppressiontest.
// What goes on it is decided here (Suppresses), from the classifier's
// verdict on the final reply: a permanent failure of category bad-mailbox,
// and nothing else. An entry lasts suppression.ttl; an admin removes one
// earlier through the API, the CLI or the panel.
package suppression

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"sendpool/internal/intake"
)

// ErrNotFound: the account has no entry for the address.
var ErrNotFound = errors.New("suppression: not found")

// Reasons of the entries sendpool makes itself; an admin's entry carries
// the admin's own text.
const (
	// ReasonBadMailbox: a delivery bounced with a permanent bad-mailbox
	// reply (RFC 3463 X.1.1 and kin), quoted in Entry.Reply.
	ReasonBadMailbox = "bad-mailbox"
	// ReasonManual is the reason of an entry an admin added without one.
	ReasonManual = "added by an admin"
)

// Entry is one suppressed recipient of one account.
type Entry struct {
	Account string
	// Address is the recipient as it was first suppressed; Key(Address)
	// is what lookups compare.
	Address string
	Reason  string
	// Reply is the receiver's reply that caused the entry; empty for an
	// entry an admin added.
	Reply string
	// MessageID is the message whose delivery bounced; empty for an admin's.
	MessageID string
	Created   time.Time
	// Expires is when the entry stops counting; zero: never (an admin's
	// entry without a duration).
	Expires time.Time
}

// Active reports whether the entry still suppresses at now.
func (e *Entry) Active(now time.Time) bool {
	return e.Expires.IsZero() || now.Before(e.Expires)
}

// Store keeps every account's suppression list for every node. Entries are
// found by account and Key(address). Every method is safe for concurrent
// use.
type Store interface {
	// PutSuppression stores e, replacing the account's entry for the same
	// key if there is one (a later bounce renews it).
	PutSuppression(ctx context.Context, e *Entry) error
	// GetSuppression returns the account's entry for address, compared by
	// Key, active or not (Entry.Active judges); ErrNotFound if none. It is
	// one read by primary key: intake asks it for every recipient.
	GetSuppression(ctx context.Context, account, address string) (*Entry, error)
	// ListSuppressions returns the account's entries, active or not,
	// newest first; at most limit of them (0: all).
	ListSuppressions(ctx context.Context, account string, limit int) ([]*Entry, error)
	// DeleteSuppression removes the account's entry for address;
	// ErrNotFound if there is none.
	DeleteSuppression(ctx context.Context, account, address string) error
	// PurgeSuppressions deletes up to limit entries, of every account, that
	// expired before before, and returns how many. Safe on several nodes at
	// once.
	PurgeSuppressions(ctx context.Context, before time.Time, limit int) (int, error)
}

// Key is what an address is compared by: its domain in lower case (domain
// names are case-insensitive, RFC 1035 §2.3.3), its local part as it is,
// since only the receiving host may interpret it (RFC 5321 §2.4). Angle
// brackets and surrounding white space are dropped.
func Key(address string) string {
	a := strings.TrimSpace(address)
	if len(a) >= 2 && a[0] == '<' && a[len(a)-1] == '>' {
		a = a[1 : len(a)-1]
	}
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return a
	}
	return a[:at+1] + strings.ToLower(a[at+1:])
}

// Clean checks an address an admin gives (angle brackets and white space
// around it are dropped) with intake's syntax of a recipient, so that an
// entry can match what intake lets through.
func Clean(address string) (string, error) {
	a := strings.TrimSpace(address)
	if len(a) >= 2 && a[0] == '<' && a[len(a)-1] == '>' {
		a = a[1 : len(a)-1]
	}
	if _, _, err := intake.ParseAddress(a); err != nil {
		return "", fmt.Errorf("address %q: %v", address, err)
	}
	return a, nil
}
