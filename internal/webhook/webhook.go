// Package webhook tells a hosting provider's systems what happened to its
// customers' mail, its accounts and the pool, without polling: signed HTTP
// POSTs to registered endpoints (SPEC §7 "Webhooks") and the same events as
// a feed with a cursor (GET /api/v1/feed).
//
// Events go through a durable outbox in the store (Store; the SQLite and
// MongoDB stores pass webhooktest). What this package promises:
//
//   - Message events (delivered, deferred, bounced, expired, suppressed) are
//     written BEFORE the queue records the outcome they report
//     (queue.SchedulerConfig.OnOutcomes); accepted goes in queue.Put's own
//     transaction on the embedded store (AtomicPut), before Put on MongoDB.
//     Once the state change is committed its event is too, so kill -9 at
//     any point loses none. A crash between the two leaves an event whose
//     state change was not recorded: the delivery is tried again, and its
//     new attempt gets an event of its own (the first still reports a real
//     attempt). An accepted event written before Put counts only once its
//     message is stored (Event.Commit): the stores hold it back until then
//     and void it if the message never comes, so a Put that fails never
//     shows as accepted.
//   - Other events (ip_*, account_held, domain_dns_error) are written right
//     after the change by the node that made it; kill -9 in between loses
//     that one event (the state itself is in the API).
//   - Any node sends; a claim on each (event, endpoint) lets one node send it
//     at a time. At least once: a node that dies after the POST and before
//     recording it leaves the claim to expire, and another sends it again
//     with the same webhook-id, which receivers use to deduplicate.
//   - In order per message: an endpoint gets event N+1 of a message (of an
//     IP, an account, a domain: Event.Key) only once N succeeded or was
//     given up.
//   - Failures are retried with jitter for webhook.retry_for (72h); an
//     endpoint failing without a success for webhook.disable_after (24h),
//     or answering 410 Gone, is disabled until re-enabled through the API.
package webhook

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Type is an event's type (SPEC §7).
type Type string

// The event types.
const (
	Accepted       Type = "accepted"
	Delivered      Type = "delivered"
	Deferred       Type = "deferred"
	Bounced        Type = "bounced"
	Expired        Type = "expired"
	Suppressed     Type = "suppressed"
	IPSuspended    Type = "ip_suspended"
	IPResumed      Type = "ip_resumed"
	AccountHeld    Type = "account_held"
	DomainDNSError Type = "domain_dns_error"
	// Disabled tells the other global endpoints that one was disabled.
	Disabled Type = "webhook_disabled"
)

// AllTypes returns every event type.
func AllTypes() []Type {
	return []Type{Accepted, Delivered, Deferred, Bounced, Expired, Suppressed,
		IPSuspended, IPResumed, AccountHeld, DomainDNSError, Disabled}
}

// DefaultTypes are what an endpoint registered without a list gets: all but
// deferred, which every retry of every message would send.
func DefaultTypes() []Type {
	return slices.DeleteFunc(AllTypes(), func(t Type) bool { return t == Deferred })
}

// Valid reports whether t is a known type.
func (t Type) Valid() bool { return slices.Contains(AllTypes(), t) }

// Global reports whether events of type t concern the whole pool and go
// only to global endpoints (those registered without an account).
func (t Type) Global() bool { return t == IPSuspended || t == IPResumed || t == Disabled }

// Event is one event in the outbox.
type Event struct {
	// Seq is the event's place in the feed: Append assigns it, increasing
	// in the order events become visible, so a cursor never skips one.
	Seq int64
	// ID is the event's id, the webhook-id header: the same for every
	// endpoint and every retry.
	ID        string
	Type      Type
	Time      time.Time
	Account   string // the account it concerns; "" for pool events
	MessageID string // sendpool's message id, for message events
	// Key orders delivery: an endpoint gets the events of one key in Seq
	// order (a message's id, "ip:"+address, "account:"+name, …).
	Key string
	// Body is the JSON that is posted and that the feed serves.
	Body []byte
	// Commit, when set, is the id of a message whose queue.Put was still
	// in flight when the event was written: the event counts only once
	// that message exists. Until then the stores keep it out of the feed
	// (which stops there) and unsent; after SettleWithin without the
	// message they void it.
	Commit string
}

// PutWithin bounds the queue.Put behind an accepted event (Emitter.Queue);
// SettleWithin is how long an event with a Commit waits for its message:
// twice that, so the Put has ended one way or the other by then. After a
// crash in the middle of a Put the feed waits that long at the event (the
// embedded store, one node to a database, settles them at start:
// sqlite.Store.SettleAll).
const (
	PutWithin    = 30 * time.Second
	SettleWithin = 2 * PutWithin
)

// Record is an event to append with the endpoints that are to get it.
type Record struct {
	Event   Event
	Targets []string // endpoint ids
}

// Secret is one signing secret of an endpoint: "whsec_" + base64 of its
// key (sign.go).
type Secret struct {
	Value string
	// Expires is when a secret replaced by a rotation stops signing; zero
	// for the current one.
	Expires time.Time
}

// Health is an endpoint's breaker.
type Health struct {
	// FailingSince is the first failure after the last success; zero
	// while the endpoint answers.
	FailingSince time.Time
	Disabled     bool
	DisabledAt   time.Time
	Reason       string
}

// Endpoint is one registered receiver.
type Endpoint struct {
	ID  string
	URL string
	// Events are the types it gets.
	Events []Type
	// Account, when set, limits it to that account's events.
	Account string
	// Secrets sign every request, current first; during a rotation's grace
	// the previous one signs too.
	Secrets []Secret
	Created time.Time
	Health
}

// Wants reports whether e gets ev: its type is chosen, its account is e's
// (or e is global), and a pool event only goes to a global endpoint.
func (e *Endpoint) Wants(t Type, account string) bool {
	if !slices.Contains(e.Events, t) {
		return false
	}
	if e.Account == "" {
		return true
	}
	return !t.Global() && account == e.Account
}

// Send is one event due to one endpoint, claimed by a sender.
type Send struct {
	ID       string // endpoint id + "/" + event seq
	Endpoint string
	Event    Event // Body included
	Attempts int   // before this one
	// The claim: who holds it until when. Stores add what they need to
	// tell their own claim from a later one.
	Owner string
	Until time.Time
	Claim string
}

// Outcome is what a sender reports for a claimed send.
type Outcome struct {
	// Done: delivered, or given up; the send is removed.
	Done bool
	// Next is when to try again when not Done.
	Next time.Time
}

// Errors the stores return.
var (
	ErrNotFound  = errors.New("webhook: not found")
	ErrLeaseLost = errors.New("webhook: claim lost")
)

// Store is the outbox and the endpoints, shared by every node. Every method
// is safe for concurrent use, across nodes too.
type Store interface {
	CreateEndpoint(ctx context.Context, e *Endpoint) error
	// GetEndpoint returns an endpoint; ErrNotFound if there is none.
	GetEndpoint(ctx context.Context, id string) (*Endpoint, error)
	// ListEndpoints returns every endpoint, oldest first.
	ListEndpoints(ctx context.Context) ([]*Endpoint, error)
	// SetSecrets and SetHealth change one part of an endpoint each, so
	// that a rotation and a breaker tripping on another node do not undo
	// each other. ErrNotFound if it is gone.
	SetSecrets(ctx context.Context, id string, secrets []Secret) error
	SetHealth(ctx context.Context, id string, h Health) error
	// DeleteEndpoint removes an endpoint and its pending sends;
	// ErrNotFound if there is none.
	DeleteEndpoint(ctx context.Context, id string) error

	// Append stores each record's event with one pending send per target,
	// event and sends together (a crash leaves both or neither), assigns
	// each Event.Seq, and returns once they are durable.
	Append(ctx context.Context, recs []Record) error
	// Feed returns up to limit events after the cursor after, in Seq order,
	// of account ("" for all), and the cursor to continue from (past what
	// was looked at, which may be past the last event returned). It stops
	// before an event not yet settled (Event.Commit): a later call returns
	// it once its message exists.
	Feed(ctx context.Context, after int64, account string, limit int, now time.Time) ([]Event, int64, error)
	// Claim claims pending sends due at now for owner until now+leaseFor:
	// up to room[id] for each endpoint id in room, and only sends whose
	// earlier events of the same key for the same endpoint are done. A
	// send whose event is not settled is not due.
	Claim(ctx context.Context, owner string, now time.Time, leaseFor time.Duration, room map[string]int) ([]Send, error)
	// Finish records the outcome of a claimed send and ends the claim;
	// ErrLeaseLost if the claim is no longer current.
	Finish(ctx context.Context, s *Send, o Outcome) error
	// Pending counts the sends not yet done (the outbox's depth).
	Pending(ctx context.Context) (int, error)
	// GiveUp removes up to limit sends whose events are older than before
	// (webhook.retry_for: those of a disabled endpoint, say) and returns
	// how many.
	GiveUp(ctx context.Context, before time.Time, limit int) (int, error)
	// PurgeEvents deletes up to limit events older than before
	// (webhook.retention), oldest first, and returns how many.
	PurgeEvents(ctx context.Context, before time.Time, limit int) (int, error)
	// Repair tidies what crashes and failed Puts leave behind (events that
	// never settled, stale claims); the janitor calls it now and then.
	// What blocks the feed is resolved by the readers themselves. Safe on
	// several nodes at once.
	Repair(ctx context.Context, now time.Time) error
}
