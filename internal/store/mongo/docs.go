package mongo

import (
	"time"

	"sendpool/internal/queue"
)

// messageDoc is one message. It is written last by Put: its presence is
// what makes the message's deliveries real.
type messageDoc struct {
	ID      string       `bson:"_id"`
	Account string       `bson:"account"`
	From    string       `bson:"from"`
	Size    int64        `bson:"size"`
	Created time.Time    `bson:"created"`
	Expires time.Time    `bson:"expires"`
	Bounce  bool         `bson:"bounce"`
	Rcpts   int          `bson:"rcpts"`
	Status  queue.Status `bson:"status"`
	// Body is inline when it fits ChunkSize; otherwise Chunks > 0 says how
	// many chunk documents hold it. Dropped: once every recipient has it.
	Body    []byte `bson:"body,omitempty"`
	Chunks  int    `bson:"chunks"`
	Dropped bool   `bson:"dropped"`
	// Finished is when every delivery had become final (store clock);
	// absent until then. Purge goes by it.
	Finished time.Time `bson:"finished,omitempty"`
	// Intake is intake's verdict (queue.Intake); absent for DSNs.
	Intake *intakeDoc `bson:"intake,omitempty"`
	// TLSOptional: queue.Message.TLSOptional; absent when false.
	TLSOptional bool `bson:"tls_optional,omitempty"`
}

// deliveryDoc is one recipient. A leased delivery keeps its status (queued
// or deferred) with Next set to the lease's end, so "due" is one condition
// whether it is new, deferred or its lease expired (as in the SQLite store).
type deliveryDoc struct {
	ID        string       `bson:"_id"` // message id + "/" + index
	MessageID string       `bson:"m"`
	Idx       int          `bson:"idx"`
	Recipient string       `bson:"rcpt"`
	Domain    string       `bson:"domain"`
	Status    queue.Status `bson:"status"`
	Attempts  int          `bson:"attempts"`
	Next      time.Time    `bson:"next"`
	Tried     []string     `bson:"tried"`
	NextIP    string       `bson:"next_ip"`
	Response  string       `bson:"resp"`
	// Notified: a delay notice went to the sender; set once, never cleared.
	Notified bool      `bson:"notified"`
	Owner    string    `bson:"owner"`
	Gen      int64     `bson:"gen"`
	Until    time.Time `bson:"until"`
	// Claim is the claim document that made the current generation, so a
	// claimant can tell its own write from another's.
	Claim string `bson:"claim"`
	// Put is when Put wrote it (store clock). OK is set by the first lease
	// that found the message document, which commits Put: until then Lease
	// checks, and removes a delivery whose message never came (Put died
	// half way) once Put is old.
	Put time.Time `bson:"put"`
	OK  bool      `bson:"ok"`
	// Round is the message written last in the group commit that wrote
	// this delivery (commit.go): once it exists, so does this delivery's.
	// Absent for deliveries written before rounds were.
	Round string `bson:"round,omitempty"`
	// The message's fields a lease carries, copied so that Lease reads
	// deliveries only.
	From    string       `bson:"from"`
	Account string       `bson:"account"`
	Created time.Time    `bson:"created"`
	Expires time.Time    `bson:"expires"`
	Bounce  bool         `bson:"bounce"`
	Size    int64        `bson:"size"`
	Rcpts   int          `bson:"rcpts"`
	Log     []attemptDoc `bson:"log,omitempty"`
	// TLSOptional: the message's, as the others above.
	TLSOptional bool `bson:"tls_optional,omitempty"`
	// HeaderID: the message's Message-ID field (queue.Lease.HeaderID).
	HeaderID string `bson:"hid,omitempty"`
}

// attemptDoc is one attempt, kept inside its delivery: a delivery's
// attempts are bounded by the retry schedule, and reading a message reads
// them with it.
type attemptDoc struct {
	Time     time.Time `bson:"t"`
	SourceIP string    `bson:"ip"`
	MX       string    `bson:"mx"`
	MXAddr   string    `bson:"addr"`
	Response string    `bson:"resp"`
	Verdict  string    `bson:"verdict"`
	Category string    `bson:"cat"`
	Duration int64     `bson:"dur"` // nanoseconds
	// TLS is queue.Attempt.TLS; absent for attempts without a connection
	// and those recorded before it was kept.
	TLS *tlsDoc `bson:"tls,omitempty"`
}

// tlsDoc is queue.TLS.
type tlsDoc struct {
	Version  string `bson:"v,omitempty"`
	Verified bool   `bson:"ok,omitempty"`
	Policy   string `bson:"p,omitempty"`
	Failure  string `bson:"f,omitempty"`
}

// claimDoc is the claim of one generation of one delivery (claims.go).
type claimDoc struct {
	ID        string    `bson:"_id"` // delivery id # generation . try
	Delivery  string    `bson:"d"`
	MessageID string    `bson:"m"`
	Gen       int64     `bson:"g"`
	Try       int       `bson:"k"`
	Owner     string    `bson:"owner"`
	Until     time.Time `bson:"until"`
}

// chunkDoc is one piece of a large body.
type chunkDoc struct {
	ID        string `bson:"_id"` // message id # n
	MessageID string `bson:"m"`
	N         int    `bson:"n"`
	Data      []byte `bson:"data"`
}

func (a attemptDoc) attempt() queue.Attempt {
	out := queue.Attempt{
		Time: local(a.Time), SourceIP: a.SourceIP, MX: a.MX, MXAddr: a.MXAddr,
		Response: a.Response, Verdict: a.Verdict, Category: a.Category, Duration: time.Duration(a.Duration),
	}
	if t := a.TLS; t != nil {
		out.TLS = queue.TLS{Version: t.Version, Verified: t.Verified, Policy: t.Policy, Failure: t.Failure}
	}
	return out
}

func newAttemptDoc(a queue.Attempt) attemptDoc {
	d := attemptDoc{
		Time: ms(a.Time), SourceIP: a.SourceIP, MX: a.MX, MXAddr: a.MXAddr,
		Response: a.Response, Verdict: a.Verdict, Category: a.Category, Duration: int64(a.Duration),
	}
	if t := a.TLS; !t.Zero() {
		d.TLS = &tlsDoc{Version: t.Version, Verified: t.Verified, Policy: t.Policy, Failure: t.Failure}
	}
	return d
}
