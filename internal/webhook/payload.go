package webhook

import (
	"encoding/json"
	"time"

	"sendpool/internal/queue"
)

// Payload is an event's JSON, as posted and as the feed serves it: the
// fields of SPEC §7 ("id", "type", "time", "message_id") and those of its
// type. One flat object, so a consumer reads every type the same way.
type Payload struct {
	ID   string    `json:"id"`
	Type Type      `json:"type"`
	Time time.Time `json:"time"`
	// MessageID is sendpool's id (as in "queued as ID" and the API); ""
	// for events that are not about a message.
	MessageID string `json:"message_id"`
	// HeaderMessageID is the message's own Message-ID field, without the
	// angle brackets.
	HeaderMessageID string `json:"header_message_id,omitempty"`
	Account         string `json:"account,omitempty"`

	From       string   `json:"from,omitempty"`       // envelope sender
	Recipients []string `json:"recipients,omitempty"` // accepted
	Size       int      `json:"size,omitempty"`       // accepted
	Recipient  string   `json:"recipient,omitempty"`  // one delivery's

	// An attempt's: the source IP, the MX host and address, the reply.
	IP          string     `json:"ip,omitempty"`
	MX          string     `json:"mx,omitempty"`
	MXAddr      string     `json:"mx_addr,omitempty"`
	Reply       string     `json:"reply,omitempty"`
	Category    string     `json:"category,omitempty"`
	Attempts    int        `json:"attempts,omitempty"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"` // deferred

	// Suspensions and holds.
	Scope  string     `json:"scope,omitempty"`
	Source string     `json:"source,omitempty"`
	Reason string     `json:"reason,omitempty"`
	Until  *time.Time `json:"until,omitempty"`

	// Expires is when a suppression ends.
	Expires *time.Time `json:"expires,omitempty"`

	Domain  string      `json:"domain,omitempty"`
	Records []DNSRecord `json:"records,omitempty"`

	// Webhook is the endpoint a webhook_disabled event is about.
	Webhook string `json:"webhook,omitempty"`
}

// DNSRecord is one record of a domain_dns_error event that is not as it
// should be.
type DNSRecord struct {
	Record   string   `json:"record"` // spf, dkim, dmarc, return_path
	Status   string   `json:"status"` // missing, wrong
	Found    []string `json:"found"`
	Expected []string `json:"expected"`
}

// NewID returns a new event id: "evt_" and a sortable unique id.
func NewID(now time.Time) string { return "evt_" + queue.NewID(now) }

// event makes the outbox event of p: its id and time are p's.
func (p *Payload) event(key string) (Event, error) {
	p.Time = p.Time.UTC()
	body, err := json.Marshal(p)
	if err != nil {
		return Event{}, err
	}
	return Event{ID: p.ID, Type: p.Type, Time: p.Time, Account: p.Account, MessageID: p.MessageID,
		Key: key, Body: body}, nil
}

// timePtr is t for an omitempty field: nil for the zero time.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
