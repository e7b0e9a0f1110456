package bounce

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"sendpool/internal/testclock"
)

var (
	arrival = testclock.New().Now()
	tried   = arrival.Add(3 * time.Second)
)

const origHeaders = "From: <sender@shop1.test>\r\nTo: <user@gmail.test>\r\n" +
	"Subject: order 42\r\nMessage-ID: <m42@shop1.test>\r\n"

// parsed is a DSN taken apart with the standard library only.
type parsed struct {
	header     mail.Header
	parts      []part
	perMessage textproto.MIMEHeader
	perRcpt    []textproto.MIMEHeader
}

type part struct {
	ctype string
	body  string
}

// parseDSN parses msg as multipart/report (RFC 6522) and its
// delivery-status part as RFC 3464 §2.1 field groups.
func parseDSN(t *testing.T, msg []byte) *parsed {
	t.Helper()
	for i, line := range bytes.Split(msg, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(line) > 998 {
			t.Fatalf("line %d is %d bytes long (RFC 5322 §2.1.1: at most 998)", i+1, len(line))
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("not a message: %v", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %q: want multipart/report; report-type=delivery-status (err %v)",
			m.Header.Get("Content-Type"), err)
	}
	p := &parsed{header: m.Header}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		pt, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		b, err := io.ReadAll(pt)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(pt.Header.Get("Content-Type"))
		p.parts = append(p.parts, part{ctype: ct, body: string(b)})
		if ct == "message/delivery-status" || ct == "message/global-delivery-status" {
			r := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
			for {
				h, err := r.ReadMIMEHeader()
				if len(h) > 0 {
					if p.perMessage == nil {
						p.perMessage = h
					} else {
						p.perRcpt = append(p.perRcpt, h)
					}
				}
				if err != nil {
					break
				}
			}
		}
	}
	return p
}

func (p *parsed) types() []string {
	var ts []string
	for _, pt := range p.parts {
		ts = append(ts, pt.ctype)
	}
	return ts
}

func want(t *testing.T, h textproto.MIMEHeader, field, value string) {
	t.Helper()
	if got := h.Get(field); got != value {
		t.Errorf("%s: %q, want %q", field, got, value)
	}
}

// TestFailedDSN: a 550 5.1.1 becomes a DSN of three parts whose
// delivery-status names the recipient, the MX and the reply as received,
// sent from MAILER-DAEMON as an automatic reply.
func TestFailedDSN(t *testing.T) {
	const reply = "550 5.1.1 <user@gmail.test>: Recipient address rejected: User unknown in virtual mailbox table; please check the address and try again"
	now := tried.Add(time.Second)
	b, err := Build(&Report{
		ReportingMTA: "relay.sendpool.test",
		Sender:       "sender@shop1.test",
		QueueID:      "01abc",
		Arrival:      arrival,
		Headers:      []byte(origHeaders),
		Date:         now,
		Recipients: []Recipient{{
			Address: "user@gmail.test", Action: ActionFailed, Category: "bad-mailbox",
			RemoteMTA: "mx.gmail.test", Reply: reply, LastAttempt: tried,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := parseDSN(t, b.Body)

	if got := p.header.Get("From"); got != "Mail Delivery System <MAILER-DAEMON@relay.sendpool.test>" {
		t.Errorf("From %q", got)
	}
	if got := p.header.Get("To"); got != "<sender@shop1.test>" {
		t.Errorf("To %q", got)
	}
	if got := p.header.Get("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("Auto-Submitted %q, want auto-replied (RFC 3834)", got)
	}
	if got := p.header.Get("Message-ID"); got != "<"+b.MessageID+">" || !strings.HasSuffix(b.MessageID, "@relay.sendpool.test") {
		t.Errorf("Message-ID %q (built %q)", got, b.MessageID)
	}
	if d, err := p.header.Date(); err != nil || !d.Equal(now) {
		t.Errorf("Date %q: %v", p.header.Get("Date"), err)
	}
	if got := p.header.Get("MIME-Version"); got != "1.0" {
		t.Errorf("MIME-Version %q", got)
	}
	if got := strings.Join(p.types(), ","); got != "text/plain,message/delivery-status,text/rfc822-headers" {
		t.Fatalf("parts %s", got)
	}
	if !strings.Contains(p.parts[0].body, "mx.gmail.test") || !strings.Contains(p.parts[0].body, reply) {
		t.Errorf("human part does not give the MX and the reply:\n%s", p.parts[0].body)
	}
	want(t, p.perMessage, "Reporting-MTA", "dns; relay.sendpool.test")
	want(t, p.perMessage, "Arrival-Date", arrival.Format(time.RFC1123Z))
	want(t, p.perMessage, "X-Sendpool-Queue-ID", "01abc")
	if p.perMessage.Get("Original-Envelope-Id") != "" {
		t.Errorf("Original-Envelope-Id given without an ENVID")
	}
	if len(p.perRcpt) != 1 {
		t.Fatalf("%d recipient groups, want 1", len(p.perRcpt))
	}
	r := p.perRcpt[0]
	want(t, r, "Final-Recipient", "rfc822; user@gmail.test")
	want(t, r, "Action", "failed")
	want(t, r, "Status", "5.1.1")
	want(t, r, "Remote-MTA", "dns; mx.gmail.test")
	want(t, r, "Diagnostic-Code", "smtp; "+reply) // folded on the wire, whole once unfolded
	want(t, r, "Last-Attempt-Date", tried.Format(time.RFC1123Z))
	if r.Get("Will-Retry-Until") != "" {
		t.Errorf("Will-Retry-Until on a failed recipient")
	}
	if p.parts[2].body != origHeaders {
		t.Errorf("attached headers %q, want %q", p.parts[2].body, origHeaders)
	}
	// On the wire the long field is folded (RFC 5322 §2.2.3).
	_, rest, _ := strings.Cut(string(b.Body), "\r\nDiagnostic-Code: ")
	first, next, _ := strings.Cut(rest, "\r\n")
	if len("Diagnostic-Code: "+first) > maxLine || !strings.HasPrefix(next, " ") {
		t.Errorf("a %d-byte Diagnostic-Code was not folded: %q", len(reply), first)
	}
}

// TestDelayedDSN: a delay notice says delayed, when retries end, and keeps
// the temporary reply's own status.
func TestDelayedDSN(t *testing.T) {
	until := arrival.Add(72 * time.Hour)
	b, err := Build(&Report{
		ReportingMTA: "relay.sendpool.test", Sender: "sender@shop1.test", Arrival: arrival,
		Headers: []byte(origHeaders), Date: tried, EnvelopeID: "env-7",
		Recipients: []Recipient{
			{Address: "a@gmail.test", Action: ActionDelayed, Category: "greylist", RemoteMTA: "mx.gmail.test",
				Reply: "451 4.7.1 Greylisted, try again later", LastAttempt: tried, WillRetryUntil: until},
			{Address: "b@gmail.test", Action: ActionDelayed, Category: "network",
				Reply: "dial tcp 127.0.0.11:25: connect: connection refused", LastAttempt: tried, WillRetryUntil: until},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := parseDSN(t, b.Body)
	if got := p.header.Get("Subject"); !strings.Contains(got, "Delayed") {
		t.Errorf("Subject %q", got)
	}
	want(t, p.perMessage, "Original-Envelope-Id", "env-7")
	if len(p.perRcpt) != 2 {
		t.Fatalf("%d recipient groups, want 2", len(p.perRcpt))
	}
	for _, r := range p.perRcpt {
		want(t, r, "Action", "delayed")
		want(t, r, "Will-Retry-Until", until.Format(time.RFC1123Z))
	}
	want(t, p.perRcpt[0], "Status", "4.7.1")
	want(t, p.perRcpt[0], "Diagnostic-Code", "smtp; 451 4.7.1 Greylisted, try again later")
	// Not an SMTP reply: our own diagnostic type, and no Remote-MTA.
	want(t, p.perRcpt[1], "Status", "4.4.1")
	want(t, p.perRcpt[1], "Diagnostic-Code", "X-Sendpool; dial tcp 127.0.0.11:25: connect: connection refused")
	want(t, p.perRcpt[1], "Remote-MTA", "")
	if !strings.Contains(p.parts[0].body, "still being retried") {
		t.Errorf("human part:\n%s", p.parts[0].body)
	}
}

// TestDSNWithoutHeaders: with the original gone the DSN has two parts
// (the third is optional, RFC 6522 §3).
func TestDSNWithoutHeaders(t *testing.T) {
	b, err := Build(&Report{ReportingMTA: "h.test", Sender: "s@a.test", Date: tried,
		Recipients: []Recipient{{Address: "r@b.test", Action: ActionFailed, Reply: "554 no"}}})
	if err != nil {
		t.Fatal(err)
	}
	p := parseDSN(t, b.Body)
	if got := strings.Join(p.types(), ","); got != "text/plain,message/delivery-status" {
		t.Errorf("parts %s", got)
	}
	want(t, p.perRcpt[0], "Status", "5.0.0")
}

// TestInternationalDSN: a UTF-8 address or header section takes the RFC 6533
// "global" part types, and the message says 8bit.
func TestInternationalDSN(t *testing.T) {
	b, err := Build(&Report{ReportingMTA: "h.test", Sender: "s@a.test", Date: tried,
		Headers: []byte("Subject: Grüße\r\n"),
		Recipients: []Recipient{{Address: "jürgen@b.test", Action: ActionFailed,
			Reply: "550 5.1.1 unknown"}}})
	if err != nil {
		t.Fatal(err)
	}
	p := parseDSN(t, b.Body)
	if got := strings.Join(p.types(), ","); got != "text/plain,message/global-delivery-status,message/global-headers" {
		t.Errorf("parts %s", got)
	}
	if got := p.header.Get("Content-Transfer-Encoding"); got != "8bit" {
		t.Errorf("Content-Transfer-Encoding %q, want 8bit", got)
	}
	want(t, p.perRcpt[0], "Final-Recipient", "utf-8; jürgen@b.test")
}

// TestBuildRefuses: no DSN to the null sender, none without recipients.
func TestBuildRefuses(t *testing.T) {
	rc := []Recipient{{Address: "r@b.test", Action: ActionFailed, Reply: "550 no"}}
	if _, err := Build(&Report{ReportingMTA: "h.test", Recipients: rc}); err == nil {
		t.Error("built a DSN for the null sender")
	}
	if _, err := Build(&Report{ReportingMTA: "h.test", Sender: "s@a.test"}); err == nil {
		t.Error("built a DSN with no recipients")
	}
}

// TestReplyInjection: a reply with CR LF cannot add fields to the report.
func TestReplyInjection(t *testing.T) {
	b, err := Build(&Report{ReportingMTA: "h.test", Sender: "s@a.test", Date: tried,
		Recipients: []Recipient{{Address: "r@b.test", Action: ActionFailed,
			Reply: "550 5.1.1 no\r\nAction: delivered\r\n\r\nFinal-Recipient: rfc822; x@y"}}})
	if err != nil {
		t.Fatal(err)
	}
	p := parseDSN(t, b.Body)
	if len(p.perRcpt) != 1 {
		t.Fatalf("%d recipient groups, want 1", len(p.perRcpt))
	}
	want(t, p.perRcpt[0], "Action", "failed")
}

func TestStatusFor(t *testing.T) {
	for _, tc := range []struct {
		reply, category string
		permanent       bool
		want            string
	}{
		{"550 5.1.1 <u@x>: User unknown", "bad-mailbox", true, "5.1.1"},
		{"552-5.2.2 mailbox full", "quota", true, "5.2.2"},
		{"554 Transaction failed", "other", true, "5.0.0"},
		{"550 4.1.1 class mismatch", "other", true, "5.0.0"}, // RFC 3463 §2: classes must agree
		{"451 4.7.1 Greylisted", "greylist", false, "4.7.1"},
		{"421 try later", "other", false, "4.0.0"},
		{"451 4.7.1 Greylisted", "expired", true, "4.4.7"},
		{"dial tcp: connection refused", "expired", true, "4.4.7"},
		{"lookup x.test: no such host", "dns", true, "5.1.2"},
		{"x.test: null MX (RFC 7505)", "dns", true, "5.1.10"},
		{"lookup x.test: server failure", "dns", false, "4.4.3"},
		{"dial tcp: i/o timeout", "network", false, "4.4.1"},
		{"destination address not allowed", "policy", true, "5.0.0"},
		{"", "", false, "4.0.0"},
	} {
		if got := statusFor(tc.reply, tc.category, tc.permanent); got != tc.want {
			t.Errorf("statusFor(%q, %q, %v) = %q, want %q", tc.reply, tc.category, tc.permanent, got, tc.want)
		}
	}
}

func TestHeaderSection(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore\r\n", "A: 1\r\nB: 2\r\n"},
		{"A: 1\r\nB: 2", "A: 1\r\nB: 2\r\n"},
		{"\r\nbody only\r\n", ""},
	} {
		if got := string(HeaderSection([]byte(tc.msg))); got != tc.want {
			t.Errorf("HeaderSection(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
	big := strings.Repeat("X-Long: "+strings.Repeat("a", 100)+"\r\n", 1000) + "\r\nbody"
	h := HeaderSection([]byte(big))
	if len(h) > maxHeaders || !bytes.HasSuffix(h, []byte("\r\n")) || !bytes.HasPrefix(h, []byte("X-Long: ")) {
		t.Errorf("capped header section: %d bytes, ends %q", len(h), h[len(h)-4:])
	}
}
