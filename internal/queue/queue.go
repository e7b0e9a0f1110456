// Package queue holds the model of queued mail (message, delivery, attempt)
// and the Store interface that the embedded and MongoDB stores implement.
//
// A message is stored once; each recipient gets its own delivery, which is
// leased by one worker at a time. A lease is a claim with an owner, an expiry
// and a generation: a worker that crashed loses its leases when they expire,
// and any node takes the work again. Results reported under a lease that is no
// longer current are refused with ErrLeaseLost, so a slow worker cannot
// overwrite the outcome of the one that took over.
package queue

import (
	"context"
	"errors"
	"time"
)

// Status is the state of a delivery, and of a message as a summary of its
// deliveries.
type Status string

// The statuses of SPEC §5.
const (
	StatusQueued    Status = "queued"    // waiting for its first attempt
	StatusDeferred  Status = "deferred"  // failed temporarily, waiting for a retry
	StatusHeld      Status = "held"      // not to be sent until released
	StatusDelivered Status = "delivered" // accepted by the receiver
	StatusBounced   Status = "bounced"   // failed permanently or expired
)

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusQueued, StatusDeferred, StatusHeld, StatusDelivered, StatusBounced:
		return true
	}
	return false
}

// Final reports whether no further attempt will be made.
func (s Status) Final() bool { return s == StatusDelivered || s == StatusBounced }

// Errors the stores return.
var (
	ErrNotFound  = errors.New("queue: not found")
	ErrLeaseLost = errors.New("queue: lease lost")
)

// Message is one accepted message: its envelope and its body, stored once.
type Message struct {
	ID         string
	Account    string
	From       string // envelope sender; empty for a null sender (<>)
	Recipients []string
	Body       []byte // the message as it goes out (signatures included)
	// Spooled, when set, is the body instead of Body: a large one the way
	// in wrote to a file (internal/spool), which the store reads in
	// chunks, so that it is never held whole in memory.
	Spooled Spooled
	Created time.Time
	// Expires is when undelivered recipients bounce (delivery.max_queue_time).
	Expires time.Time
	// Held messages are stored but not leased until released.
	Held bool
	// Bounce marks a DSN we generated, so that it never causes another.
	Bounce bool
	// TLSOptional exempts the message from the recipient domains' TLS
	// policies (MTA-STS, DANE): it goes with opportunistic TLS, as
	// "TLS-Required: No" asks (RFC 8689 §5). TLS reports (RFC 8460 §3)
	// are sent so, as a report about failing TLS must get through.
	TLSOptional bool
	// Intake is intake's verdict (intake.go); nil for a DSN we generated.
	Intake *Intake
}

// ExpiresAt is when a message queued at now expires, after maxQueue
// (delivery.max_queue_time): then it bounces. With no maximum it never
// does (the zero time).
func ExpiresAt(now time.Time, maxQueue time.Duration) time.Time {
	if maxQueue <= 0 {
		return time.Time{}
	}
	return now.Add(maxQueue)
}

// Delivery is one recipient of one message.
type Delivery struct {
	ID          string // unique; MessageID + "/" + index
	MessageID   string
	Recipient   string
	Domain      string // recipient's domain, lower case
	Status      Status
	Attempts    int
	NextAttempt time.Time
	// TriedIPs are the source IPs already used for this recipient, in order,
	// so a retry can pick one not yet tried.
	TriedIPs []string
	// NextIP is the source IP the next attempt keeps, if still usable: the
	// receiver greylisted the last one, and another IP would start over.
	NextIP string
	// Response is the last reply or error.
	Response string
	// DelayNotified is set once the sender was sent a delay notice (a DSN
	// with Action: delayed), so that it goes only once.
	DelayNotified bool
}

// Lease is a delivery claimed by one worker. Owner and Generation identify
// the claim; the store checks them on every result.
type Lease struct {
	Delivery
	Owner      string
	Generation int64
	Until      time.Time
	// Message fields a worker needs without loading the body.
	From    string
	Account string
	Created time.Time
	Expires time.Time
	Bounce  bool
	Size    int64
	// TLSOptional is Message.TLSOptional.
	TLSOptional bool
	// HeaderID is the message's Message-ID field (Intake.HeaderMessageID),
	// which its delivery events carry: kept with the delivery, so that a
	// node delivering what another accepted need not read the message for
	// it. Empty when the message has none, or was stored without it.
	HeaderID string
}

// Attempt is one try to deliver to one recipient.
type Attempt struct {
	Time     time.Time     `json:"time"`
	SourceIP string        `json:"source_ip"`
	MX       string        `json:"mx"`      // MX host name
	MXAddr   string        `json:"mx_addr"` // the address connected to
	Response string        `json:"response"`
	Verdict  string        `json:"verdict,omitempty"`
	Category string        `json:"category,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	TLS      TLS           `json:"tls,omitzero"` // tls.go
}

// Outcome is what a worker reports for a leased delivery.
type Outcome struct {
	Status  Status  // StatusDelivered, StatusDeferred or StatusBounced
	Attempt Attempt // recorded; Attempt.Time zero means no attempt was made
	// Next is when a deferred delivery is due again.
	Next time.Time
	// NextIP replaces Delivery.NextIP ("" clears it).
	NextIP string
	// DelayNotified records that a delay notice is being sent; the store
	// keeps Delivery.DelayNotified set from then on.
	DelayNotified bool
}

// Filter selects messages for listing.
type Filter struct {
	Status  Status // empty: any
	Account string // empty: any
	Limit   int    // 0: a default
	// Before pages backwards: only messages created before this id's message.
	Before string
}

// MessageSummary is a message as listed by the API.
type MessageSummary struct {
	ID         string    `json:"id"`
	Account    string    `json:"account"`
	From       string    `json:"from"`
	Size       int64     `json:"size"`
	Created    time.Time `json:"created"`
	Status     Status    `json:"status"`
	Recipients int       `json:"recipients"`
}

// RecipientDetail is one recipient with its attempts.
type RecipientDetail struct {
	Address     string    `json:"address"`
	Status      Status    `json:"status"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	Response    string    `json:"response,omitempty"`
	Attempts    []Attempt `json:"attempts"`
}

// MessageDetail is a message with its recipients, as the API shows it.
type MessageDetail struct {
	MessageSummary
	Expires    time.Time         `json:"expires"`
	Recipients []RecipientDetail `json:"recipients"`
	Intake     *Intake           `json:"intake,omitempty"`
}

// Store is the durable queue. Every method is safe for concurrent use.
type Store interface {
	// Put stores a message and one delivery per recipient, due at once
	// (or held). It returns only once the message is durable.
	Put(ctx context.Context, m *Message) error
	// Lease claims up to max deliveries due at now for owner until
	// now+leaseFor. A delivery is due when it is queued or deferred and its
	// next attempt has come, or when its previous lease has expired.
	Lease(ctx context.Context, owner string, now time.Time, leaseFor time.Duration, max int) ([]Lease, error)
	// Body returns a message's body.
	Body(ctx context.Context, messageID string) ([]byte, error)
	// Report records the outcome of a leased delivery and ends the lease.
	// It returns ErrLeaseLost when the lease is no longer current.
	Report(ctx context.Context, l *Lease, o Outcome) error
	// ReportAll records the outcomes of leased deliveries, os[i] that of
	// ls[i], as Report does each, and returns each one's error. A store
	// on a server records a group's results in a few round trips in all
	// rather than a few each.
	ReportAll(ctx context.Context, ls []*Lease, os []Outcome) []error
	// Renew extends leases still held (their owner's, in progress) to
	// now+leaseFor, so that a delivery may take longer than one lease
	// while a dead node's work is taken over within one. It sets each
	// renewed lease's Until (and Generation, where the store moves it on)
	// and returns those lost meanwhile: taken over by another owner after
	// they expired, held, retried or deleted. Their worker must stop.
	Renew(ctx context.Context, ls []*Lease, now time.Time, leaseFor time.Duration) (lost []*Lease, err error)
	// ReleaseOwner ends every lease held by owner, making the deliveries due
	// at once. A node calls it at start so its own work is not left waiting
	// for leases its previous run held.
	ReleaseOwner(ctx context.Context, owner string) (int, error)

	// ListMessages and GetMessage serve the API.
	ListMessages(ctx context.Context, f Filter) ([]MessageSummary, error)
	GetMessage(ctx context.Context, id string) (*MessageDetail, error)
	// Counts returns the number of deliveries in each status.
	Counts(ctx context.Context) (map[Status]int, error)

	// Hold, Release and Retry act on every unfinished delivery of a message:
	// Hold stops attempts, Release makes held ones due, Retry makes deferred
	// ones due at once. Delete removes a message and its deliveries.
	Hold(ctx context.Context, id string) error
	Release(ctx context.Context, id string) error
	Retry(ctx context.Context, id string) error
	Delete(ctx context.Context, id string) error
	// HoldAccount holds every unfinished delivery of an account's messages
	// (leased ones lose their lease, as with Hold), ReleaseAccount makes
	// every held one due: a suspended or held account's mail is kept, not
	// sent. Both return how many deliveries they changed.
	HoldAccount(ctx context.Context, account string) (int, error)
	ReleaseAccount(ctx context.Context, account string) (int, error)

	// Purge deletes up to limit messages whose deliveries are all final
	// and that became final before before, with everything of theirs, and
	// returns how many (retention; janitor.go). A message with a delivery
	// queued, deferred, held or leased is never touched. It is idempotent
	// and safe to run on several nodes at once.
	Purge(ctx context.Context, before time.Time, limit int) (int, error)

	Close() error
}

// Summarize gives a message's status from its deliveries' statuses: the least
// advanced wins (held, then queued, then deferred), and a message is delivered
// only when every recipient is.
func Summarize(statuses []Status) Status {
	has := map[Status]bool{}
	for _, s := range statuses {
		has[s] = true
	}
	for _, s := range []Status{StatusHeld, StatusQueued, StatusDeferred, StatusBounced} {
		if has[s] {
			return s
		}
	}
	if has[StatusDelivered] {
		return StatusDelivered
	}
	return StatusQueued
}

// Verdict is what a delivery attempt came to (classified reply).
type Verdict string

// Verdicts of SPEC §1 classify.
const (
	VerdictDelivered Verdict = "delivered"
	VerdictDeferred  Verdict = "deferred"
	VerdictBlockedIP Verdict = "blocked-ip"
	VerdictPermanent Verdict = "permanent"
)

// Result is a courier's answer for one leased delivery.
type Result struct {
	Verdict Verdict
	// Scope of a blocked-ip verdict: "pool" or a provider's name.
	Scope   string
	Attempt Attempt
	// Greylisted asks that the next attempt uses the same source IP.
	Greylisted bool
	// RetryAt, when set, is when the next attempt may succeed if that is
	// sooner than the retry schedule: now (or before) when the receiver
	// refused the source IP, not the mail, and another IP may send at once;
	// when every source IP was out for the destination, when the first
	// returns; for a rate limit, when the paced IP may send again.
	RetryAt time.Time
}

// Courier delivers leased deliveries. The scheduler hands it groups that go
// to one recipient domain so that it can share connections among them.
type Courier interface {
	// Deliver attempts every lease in group and returns one Result each, in
	// the same order. It must return by ctx's deadline.
	Deliver(ctx context.Context, group []*Lease) []Result
}

// Classification is how a receiver's reply (or an error) is treated.
type Classification struct {
	Verdict  Verdict `json:"verdict"`
	Scope    string  `json:"scope"`    // of a blocked-ip verdict: "pool" or a provider's name
	Category string  `json:"category"` // bad-mailbox, policy, greylist, network, …
	Rule     string  `json:"rule"`     // the rule that matched
}
