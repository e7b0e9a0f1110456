package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
)

// The sender's domain has its own sink: that is where DSNs arrive.
var bounceDomains = map[string]string{"gmail.test": "127.0.0.11", "shop1.test": "127.0.0.14"}

const (
	sender      = "sender@shop1.test"
	userUnknown = "550 5.1.1 <user@gmail.test>: Recipient address rejected: User unknown"
)

// dsn is a received DSN taken apart with the standard library.
type dsn struct {
	msg        sandbox.Message
	header     mail.Header
	types      []string
	human      string
	perMessage textproto.MIMEHeader
	perRcpt    []textproto.MIMEHeader
	headers    string // the text/rfc822-headers part
}

func parseDSN(t *testing.T, m sandbox.Message) *dsn {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("DSN is not a message: %v\n%s", err, m.Data)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("DSN Content-Type %q", msg.Header.Get("Content-Type"))
	}
	d := &dsn{msg: m, header: msg.Header}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("DSN parts: %v", err)
		}
		body, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		d.types = append(d.types, ct)
		switch ct {
		case "text/plain":
			d.human = string(body)
		case "text/rfc822-headers":
			d.headers = string(body)
		case "message/delivery-status":
			r := textproto.NewReader(bufio.NewReader(bytes.NewReader(body)))
			for {
				h, err := r.ReadMIMEHeader()
				if len(h) > 0 {
					if d.perMessage == nil {
						d.perMessage = h
					} else {
						d.perRcpt = append(d.perRcpt, h)
					}
				}
				if err != nil {
					break
				}
			}
		}
	}
	return d
}

// waitDSNs waits until the sender's sink holds n messages and returns them.
func (e *env) waitDSNs(n int) []sandbox.Message {
	e.t.Helper()
	sink := e.world.Sink("shop1.test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sink.WaitMessages(ctx, n); err != nil {
		e.t.Fatalf("waiting for %d DSNs at shop1.test: %v (have %d)", n, err, len(sink.Messages()))
	}
	return sink.Messages()
}

// waitStatus waits until message id has status st in the API.
func (e *env) waitStatus(id string, st queue.Status) {
	e.t.Helper()
	waitFor(e.t, 30*time.Second, "message "+id+" "+string(st), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err := e.api().Message(ctx, id)
		return err == nil && m.Status == st
	})
}

// allMessages lists every message of the API, newest first.
func (e *env) allMessages() []queue.MessageSummary {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ms, err := e.api().Messages(ctx, queue.Filter{Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

// idOf waits until the API lists n messages and returns the id of the
// first (newest) whose envelope sender is from.
func (e *env) idOf(from string, n int) string {
	e.t.Helper()
	var ms []queue.MessageSummary
	waitFor(e.t, 10*time.Second, "the message in the API", func() bool {
		ms = e.allMessages()
		return len(ms) >= n
	})
	for _, m := range ms {
		if m.From == from {
			return m.ID
		}
	}
	e.t.Fatalf("no message from %q among %+v", from, ms)
	return ""
}

func checkField(t *testing.T, h textproto.MIMEHeader, field, want string) {
	t.Helper()
	if got := h.Get(field); got != want {
		t.Errorf("DSN %s: %q, want %q", field, got, want)
	}
}

// TestBounceDSN: a 550 5.1.1 at RCPT produces a DSN at the sender's
// domain's sink, sent from the null sender through the pool, whose
// delivery-status names the recipient, the remote MTA and the reply, with
// the original's headers attached.
func TestBounceDSN(t *testing.T) {
	e := newEnv(t, bounceDomains, "")
	e.world.Sink("gmail.test").SetRules(sandbox.Rule{Stage: sandbox.StageRcpt, Reply: userUnknown})
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	if err := submit(e.smtp, "shop1", "pw-shop1-secret", sender, []string{"user@gmail.test"},
		message(sender, "user@gmail.test", "b1")); err != nil {
		t.Fatal(err)
	}

	msgs := e.waitDSNs(1)
	d := parseDSN(t, msgs[0])
	if d.msg.From != "" || !slices.Equal(d.msg.To, []string{sender}) {
		t.Errorf("DSN envelope: MAIL FROM:<%s> RCPT %v; want <> and %s", d.msg.From, d.msg.To, sender)
	}
	pool := map[string]bool{}
	for _, ip := range e.world.PoolIPs {
		pool[ip.Address] = true
	}
	if !pool[d.msg.SourceIP] {
		t.Errorf("DSN came from %s, not a pool IP", d.msg.SourceIP)
	}
	if got := d.header.Get("From"); !strings.Contains(got, "<MAILER-DAEMON@relay.sendpool.test>") {
		t.Errorf("DSN From: %q", got)
	}
	if got := d.header.Get("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("DSN Auto-Submitted: %q", got)
	}
	if got := strings.Join(d.types, ","); got != "text/plain,message/delivery-status,text/rfc822-headers" {
		t.Errorf("DSN parts: %s", got)
	}
	checkField(t, d.perMessage, "Reporting-MTA", "dns; relay.sendpool.test")
	if d.perMessage.Get("Arrival-Date") == "" {
		t.Error("DSN has no Arrival-Date")
	}
	if len(d.perRcpt) != 1 {
		t.Fatalf("DSN reports %d recipients, want 1", len(d.perRcpt))
	}
	r := d.perRcpt[0]
	checkField(t, r, "Final-Recipient", "rfc822; user@gmail.test")
	checkField(t, r, "Action", "failed")
	checkField(t, r, "Status", "5.1.1")
	checkField(t, r, "Remote-MTA", "dns; mx.gmail.test")
	checkField(t, r, "Diagnostic-Code", "smtp; "+userUnknown)
	if r.Get("Last-Attempt-Date") == "" {
		t.Error("DSN has no Last-Attempt-Date")
	}
	if !strings.Contains(d.headers, "Message-ID: <b1@e2e.test>") || strings.Contains(d.headers, "Hello b1") {
		t.Errorf("attached headers:\n%s", d.headers)
	}
	if !strings.Contains(d.human, userUnknown) {
		t.Errorf("human part does not quote the reply:\n%s", d.human)
	}
}

// TestNoBounceForNullSenderOrBounce: a null-sender message that fails, and
// a DSN that itself bounces, produce no DSN. A control message sent after
// each shows DSNs flow meanwhile: only the controls' arrive.
func TestNoBounceForNullSenderOrBounce(t *testing.T) {
	e := newEnv(t, bounceDomains, "")
	e.world.Sink("gmail.test").SetRules(sandbox.Rule{Stage: sandbox.StageRcpt, Reply: userUnknown})
	shop := e.world.Sink("shop1.test")
	p := e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")

	// A null sender's failure: no DSN (there is no one to send it to).
	if err := submit(e.smtp, "shop1", "pw-shop1-secret", "", []string{"user@gmail.test"},
		message("noreply@shop1.test", "user@gmail.test", "null1")); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(e.idOf("", 1), queue.StatusBounced)

	// A DSN that bounces: the sender's own sink refuses it.
	shop.SetRules(sandbox.Rule{Stage: sandbox.StageRcpt,
		Reply: "550 5.1.1 <" + sender + ">: Recipient address rejected: User unknown"})
	if err := submit(e.smtp, "shop1", "pw-shop1-secret", sender, []string{"user@gmail.test"},
		message(sender, "user@gmail.test", "b2")); err != nil {
		t.Fatal(err)
	}
	var dsnID string
	waitFor(t, 30*time.Second, "the DSN of b2 bounced", func() bool {
		for _, m := range e.allMessages() {
			if m.From == "" && m.Status == queue.StatusBounced {
				if d, err := e.api().Message(context.Background(), m.ID); err == nil &&
					len(d.Recipients) == 1 && d.Recipients[0].Address == sender {
					dsnID = m.ID
					return true
				}
			}
		}
		return false
	})

	// Control: the sender's sink accepts again; a fresh failure's DSN
	// arrives, and it is the only message there.
	shop.SetRules()
	if err := submit(e.smtp, "shop1", "pw-shop1-secret", sender, []string{"control@gmail.test"},
		message(sender, "control@gmail.test", "c1")); err != nil {
		t.Fatal(err)
	}
	e.waitDSNs(1)
	time.Sleep(2 * time.Second) // a DSN queued late would show up now
	msgs := shop.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages at the sender's sink, want only the control's DSN", len(msgs))
	}
	if r := parseDSN(t, msgs[0]).perRcpt; len(r) != 1 || r[0].Get("Final-Recipient") != "rfc822; control@gmail.test" {
		t.Errorf("the DSN that arrived is not the control's: %v", r)
	}
	// The queue holds: null1, b2, b2's DSN, c1, c1's DSN, and nothing else.
	ms := e.allMessages()
	if len(ms) != 5 {
		t.Errorf("%d messages queued, want 5 (no DSN for null1, none for b2's DSN): %+v", len(ms), ms)
	}
	// And each was skipped for its own reason.
	for _, why := range []string{"no DSN for a null sender", "no DSN for a DSN"} {
		if !strings.Contains(p.out.String(), why) {
			t.Errorf("the log does not say %q", why)
		}
	}
	d, err := e.api().Message(context.Background(), dsnID)
	if err != nil {
		t.Fatal(err)
	}
	if a := d.Recipients[0].Attempts; len(a) == 0 || !strings.HasPrefix(a[len(a)-1].Response, "550 5.1.1") {
		t.Errorf("the DSN's own bounce: %+v", d.Recipients[0])
	}
}

// TestExpiredBounce: with the receiver down, the message bounces once
// max_queue_time has passed, and the DSN says expired with the last error.
func TestExpiredBounce(t *testing.T) {
	e := newEnv(t, bounceDomains, `retry = ["1s"]
max_queue_time = "3s"`)
	e.world.Sink("gmail.test").Close() // connections are refused
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	if err := submit(e.smtp, "shop1", "pw-shop1-secret", sender, []string{"user@gmail.test"},
		message(sender, "user@gmail.test", "x1")); err != nil {
		t.Fatal(err)
	}
	d := parseDSN(t, e.waitDSNs(1)[0])
	if len(d.perRcpt) != 1 {
		t.Fatalf("DSN reports %d recipients", len(d.perRcpt))
	}
	r := d.perRcpt[0]
	checkField(t, r, "Final-Recipient", "rfc822; user@gmail.test")
	checkField(t, r, "Action", "failed")
	checkField(t, r, "Status", "4.4.7") // RFC 3463: delivery time expired
	if diag := r.Get("Diagnostic-Code"); !strings.Contains(diag, "connection refused") {
		t.Errorf("Diagnostic-Code %q does not give the last error", diag)
	}
	if !strings.Contains(d.human, "expired") {
		t.Errorf("human part does not say expired:\n%s", d.human)
	}
	m, err := e.api().Message(context.Background(), e.idOf(sender, 1))
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != queue.StatusBounced || !strings.Contains(m.Recipients[0].Response, "expired") {
		t.Errorf("original: %s %q", m.Status, m.Recipients[0].Response)
	}
}

// TestDelayNotice: a recipient still deferred after delivery.delay_notice
// gets its sender one DSN saying delayed, and only one however many
// retries follow.
func TestDelayNotice(t *testing.T) {
	e := newEnv(t, bounceDomains, `retry = ["500ms"]
delay_notice = "1s"`)
	const tempFail = "451 4.3.0 Temporary local problem, try again later"
	e.world.Sink("gmail.test").SetRules(sandbox.Rule{Stage: sandbox.StageRcpt, Reply: tempFail})
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	if err := submit(e.smtp, "shop1", "pw-shop1-secret", sender, []string{"user@gmail.test"},
		message(sender, "user@gmail.test", "d1")); err != nil {
		t.Fatal(err)
	}
	d := parseDSN(t, e.waitDSNs(1)[0])
	if s := d.header.Get("Subject"); !strings.Contains(s, "Delayed") {
		t.Errorf("Subject %q", s)
	}
	r := d.perRcpt[0]
	checkField(t, r, "Final-Recipient", "rfc822; user@gmail.test")
	checkField(t, r, "Action", "delayed")
	checkField(t, r, "Status", "4.3.0")
	checkField(t, r, "Diagnostic-Code", "smtp; "+tempFail)
	if r.Get("Will-Retry-Until") == "" {
		t.Error("no Will-Retry-Until")
	}

	// Several more deferrals, and still one notice.
	id := e.idOf(sender, 1)
	var before int
	if m, err := e.api().Message(context.Background(), id); err == nil {
		before = len(m.Recipients[0].Attempts)
	}
	waitFor(t, 30*time.Second, "three more attempts", func() bool {
		m, err := e.api().Message(context.Background(), id)
		return err == nil && len(m.Recipients[0].Attempts) >= before+3
	})
	time.Sleep(1500 * time.Millisecond) // past the notifier's gathering time
	if n := len(e.world.Sink("shop1.test").Messages()); n != 1 {
		t.Errorf("%d delay notices, want 1", n)
	}
}
