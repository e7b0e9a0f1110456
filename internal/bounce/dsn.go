// Package bounce writes delivery status notifications (RFC 3464) and queues
// them to the envelope sender of mail that failed or is delayed.
//
// A DSN is a multipart/report (RFC 6522) of three parts: a human-readable
// explanation, a message/delivery-status part with the receiver's real reply
// and enhanced status code for each recipient, and the original message's
// header section (text/rfc822-headers). It goes out from the null sender
// (RFC 5321 §4.5.5) so that it never causes another DSN.
package bounce

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Action is what happened to a recipient (RFC 3464 §2.3.3).
type Action string

// The actions sendpool reports.
const (
	ActionFailed  Action = "failed"  // will not be delivered
	ActionDelayed Action = "delayed" // not delivered yet, still retried
)

// Recipient is one recipient's block of the delivery-status part.
type Recipient struct {
	Address string // Final-Recipient
	Action  Action
	// Status is the enhanced status code; empty: the reply's own, else one
	// derived from its class or from Category.
	Status string
	// Category is the classifier's (bad-mailbox, dns, expired, …).
	Category string
	// RemoteMTA is the MX host that gave Reply; empty when none answered.
	RemoteMTA string
	// Reply is the receiver's reply as received ("550 5.1.1 …"), or our
	// own error when none came (a refused connection, a DNS failure).
	Reply       string
	LastAttempt time.Time // zero: no attempt was made
	// WillRetryUntil is when a delayed recipient gives up (RFC 3464 §2.3.9).
	WillRetryUntil time.Time
}

// Report is everything a DSN says.
type Report struct {
	ReportingMTA string // our host name (server.hostname)
	// Sender is the original envelope sender, to whom the DSN goes.
	Sender string
	// EnvelopeID is the ENVID the client gave (RFC 3461 §4.4), if any.
	EnvelopeID string
	QueueID    string    // the original's id in our queue
	Arrival    time.Time // when we accepted the original
	// Headers is the original's header section; nil: not attached (the
	// third part is optional, RFC 6522 §3).
	Headers    []byte
	Recipients []Recipient
	Date       time.Time // the DSN's Date
}

// Built is a DSN ready to queue.
type Built struct {
	MessageID string // without angle brackets
	Body      []byte // the whole message, CRLF line endings
}

// maxLine is where long header fields are folded (RFC 5322 §2.1.1).
const maxLine = 78

// Build writes the DSN for r.
func Build(r *Report) (*Built, error) {
	if len(r.Recipients) == 0 {
		return nil, errors.New("bounce: no recipients to report")
	}
	if r.Sender == "" {
		return nil, errors.New("bounce: null sender gets no DSN")
	}
	if r.ReportingMTA == "" {
		return nil, errors.New("bounce: no reporting MTA name")
	}
	delayed := true
	for _, rc := range r.Recipients {
		if rc.Action != ActionDelayed {
			delayed = false
		}
	}
	id := randomHex(12) + "@" + r.ReportingMTA
	boundary := "=_sendpool_" + randomHex(16)
	status := r.deliveryStatus()
	human := r.humanText(delayed)

	// RFC 6533 §6.2, §6.3: internationalized addresses or headers need the
	// "global" variants of the machine-readable parts.
	statusType := "message/delivery-status"
	if !isASCII(status) {
		statusType = "message/global-delivery-status"
	}
	headersType := "text/rfc822-headers"
	if !isASCII(string(r.Headers)) {
		headersType = "message/global-headers"
	}
	cte := "7bit"
	if !isASCII(human) || !isASCII(status) || !isASCII(string(r.Headers)) {
		cte = "8bit" // RFC 2045 §6.4: a multipart says the widest of its parts
	}

	var b bytes.Buffer
	field(&b, "From", "Mail Delivery System <MAILER-DAEMON@"+r.ReportingMTA+">")
	field(&b, "To", "<"+oneLine(r.Sender)+">")
	if delayed {
		field(&b, "Subject", "Delayed Mail (still being retried)")
	} else {
		field(&b, "Subject", "Undelivered Mail Returned to Sender")
	}
	field(&b, "Date", r.Date.Format(time.RFC1123Z))
	field(&b, "Message-ID", "<"+id+">")
	// RFC 3834 §5: a reply made by a machine, so that responders stay quiet.
	field(&b, "Auto-Submitted", "auto-replied")
	field(&b, "MIME-Version", "1.0")
	field(&b, "Content-Type", `multipart/report; report-type=delivery-status; boundary="`+boundary+`"`)
	field(&b, "Content-Transfer-Encoding", cte)
	b.WriteString("\r\nThis is a MIME-encapsulated delivery status notification.\r\n")

	part := func(ctype, desc string, body string) {
		b.WriteString("\r\n--" + boundary + "\r\n")
		field(&b, "Content-Type", ctype)
		field(&b, "Content-Description", desc)
		if !isASCII(body) {
			field(&b, "Content-Transfer-Encoding", "8bit")
		}
		b.WriteString("\r\n")
		b.WriteString(body)
	}
	part("text/plain; charset=utf-8", "Notification", human)
	part(statusType, "Delivery report", status)
	if r.Headers != nil {
		what := "Undelivered Message Headers"
		if delayed {
			what = "Delayed Message Headers"
		}
		part(headersType, what, string(r.Headers))
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return &Built{MessageID: id, Body: b.Bytes()}, nil
}

// deliveryStatus writes the message/delivery-status body (RFC 3464 §2.1):
// the per-message fields, then one block per recipient, each block ended
// by an empty line.
func (r *Report) deliveryStatus() string {
	var b bytes.Buffer
	field(&b, "Reporting-MTA", "dns; "+r.ReportingMTA)
	if r.QueueID != "" {
		field(&b, "X-Sendpool-Queue-ID", r.QueueID) // §2.4: extension field
	}
	if r.EnvelopeID != "" {
		field(&b, "Original-Envelope-Id", oneLine(r.EnvelopeID))
	}
	if !r.Arrival.IsZero() {
		field(&b, "Arrival-Date", r.Arrival.Format(time.RFC1123Z))
	}
	for _, rc := range r.Recipients {
		b.WriteString("\r\n")
		field(&b, "Final-Recipient", addressType(rc.Address)+"; "+oneLine(rc.Address))
		field(&b, "Action", string(rc.Action))
		field(&b, "Status", rc.status())
		if rc.RemoteMTA != "" {
			field(&b, "Remote-MTA", "dns; "+oneLine(rc.RemoteMTA))
		}
		if d := diagnostic(rc.Reply); d != "" {
			field(&b, "Diagnostic-Code", d)
		}
		if !rc.LastAttempt.IsZero() {
			field(&b, "Last-Attempt-Date", rc.LastAttempt.Format(time.RFC1123Z))
		}
		if rc.Action == ActionDelayed && !rc.WillRetryUntil.IsZero() {
			field(&b, "Will-Retry-Until", rc.WillRetryUntil.Format(time.RFC1123Z))
		}
	}
	return b.String()
}

func (rc *Recipient) status() string {
	if rc.Status != "" {
		return rc.Status
	}
	return statusFor(rc.Reply, rc.Category, rc.Action == ActionFailed)
}

// humanText is the first part: what happened, in words, with each reply.
func (r *Report) humanText(delayed bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "This is the mail system at host %s.\r\n\r\n", r.ReportingMTA)
	if delayed {
		b.WriteString("Your message has not been delivered yet to the recipients below.\r\n" +
			"It is still being retried; you do not need to send it again.\r\n")
	} else {
		b.WriteString("Your message could not be delivered to the recipients below.\r\n" +
			"Its headers are attached.\r\n")
	}
	for _, rc := range r.Recipients {
		fmt.Fprintf(&b, "\r\n<%s>:\r\n", oneLine(rc.Address))
		switch {
		case rc.Category == "expired":
			b.WriteString("    expired: the message stayed in the queue too long without being\r\n" +
				"    accepted. The last attempt got:\r\n")
		case rc.RemoteMTA != "":
			fmt.Fprintf(&b, "    the receiving server %s said:\r\n", oneLine(rc.RemoteMTA))
		default:
			b.WriteString("    the last attempt failed:\r\n")
		}
		fmt.Fprintf(&b, "    %s\r\n", oneLine(rc.Reply))
		if rc.Action == ActionDelayed && !rc.WillRetryUntil.IsZero() {
			fmt.Fprintf(&b, "    It will be retried until %s.\r\n", rc.WillRetryUntil.Format(time.RFC1123Z))
		}
	}
	return b.String()
}

// addressType is the address type of Final-Recipient: rfc822, or utf-8
// for an internationalized address (RFC 6533 §3).
func addressType(addr string) string {
	if isASCII(addr) {
		return "rfc822"
	}
	return "utf-8"
}

// field writes "Name: value" and CRLF, folding at spaces so that lines stay
// within maxLine where the value allows (RFC 5322 §2.2.3).
func field(b *bytes.Buffer, name, value string) {
	line := name + ":"
	col := len(line)
	b.WriteString(line)
	for i, word := range strings.Split(value, " ") {
		n := utf8.RuneCountInString(word)
		if i > 0 && col+1+n > maxLine {
			b.WriteString("\r\n")
			col = 0
		}
		b.WriteByte(' ')
		b.WriteString(word)
		col += 1 + n
	}
	b.WriteString("\r\n")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
