package smtpd

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
)

const testBody = "From: a@acme.test\r\nTo: b@gmail.test\r\nSubject: test\r\n\r\nhello\r\n"

func TestEHLOCapabilities(t *testing.T) {
	e := newEnv(t, nil)
	caps := strings.Split(dialRaw(t, e.addr).must("EHLO client.test", 250, ""), "\n")
	for _, want := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE 65536", "ENHANCEDSTATUSCODES", "AUTH PLAIN LOGIN"} {
		if !contains(caps, want) {
			t.Errorf("EHLO lacks %q: %q", want, caps)
		}
	}
	if contains(caps, "STARTTLS") {
		t.Errorf("STARTTLS offered without a certificate: %q", caps)
	}

	cert, _ := selfSigned(t, "relay.sendpool.test")
	e = newEnv(t, func(c *Config) { c.TLS = cert })
	caps = strings.Split(dialRaw(t, e.addr).must("EHLO client.test", 250, ""), "\n")
	if !contains(caps, "STARTTLS") {
		t.Errorf("STARTTLS not offered with a certificate: %q", caps)
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// TestAuthPlain sends with net/smtp, an independent client.
func TestAuthPlain(t *testing.T) {
	e := newEnv(t, nil)
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "acme", "secret", "127.0.0.1")); err != nil {
		t.Fatalf("AUTH PLAIN: %v", err)
	}
	if err := sendNetSMTP(c, "a@acme.test", []string{"b@gmail.test", "c@yahoo.test"}, testBody); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}

	msgs := e.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages stored, want 1", len(msgs))
	}
	for id, body := range msgs {
		head, rest, _ := strings.Cut(body, "\r\n\t")
		if head != "Received: from client.test ([127.0.0.1])" {
			t.Errorf("first line %q, want the Received header", head)
		}
		if !strings.Contains(rest, "by relay.sendpool.test (sendpool) with ESMTPA id "+id+";\r\n\t") {
			t.Errorf("Received header lacks protocol or id %s (two recipients: no \"for\"):\n%s", id, body)
		}
		if !strings.HasSuffix(body, "\r\n"+testBody) {
			t.Errorf("body not kept after the trace header:\n%q", body)
		}
		if logs := e.logs.String(); !strings.Contains(logs, "msg=accepted id="+id+" account=acme") ||
			!strings.Contains(logs, "client_ip=127.0.0.1") {
			t.Errorf("no accepted log line for %s:\n%s", id, logs)
		}
	}
}

// sendNetSMTP runs one transaction with net/smtp.
func sendNetSMTP(c *smtp.Client, from string, to []string, body string) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, body); err != nil {
		return err
	}
	return w.Close()
}

// sendRaw runs one transaction after AUTH and returns the final reply.
func sendRaw(c *rawClient, from string, rcpts []string, data string) (int, string) {
	c.t.Helper()
	c.must("MAIL FROM:<"+from+">", 250, "2.0.0")
	for _, r := range rcpts {
		c.must("RCPT TO:<"+r+">", 250, "2.0.0")
	}
	c.must("DATA", 354, "")
	c.writeRaw(data + ".\r\n")
	return c.reply()
}

func TestReplyNamesStoredID(t *testing.T) {
	e := newEnv(t, nil)
	c := dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	c.must("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00acme\x00secret")), 235, "2.0.0")
	code, msg := sendRaw(c, "a@acme.test", []string{"b@gmail.test"}, testBody)
	if code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	id := queuedID(t, msg)
	body, ok := e.messages()[id]
	if !ok {
		t.Fatalf("reply names %s, not stored: %v", id, e.messages())
	}
	if !strings.Contains(body, "\r\n\tfor <b@gmail.test>;\r\n") {
		t.Errorf("single recipient not named in Received:\n%s", body)
	}
	// AUTH is refused in a transaction, and once authenticated.
	c.must("MAIL FROM:<a@acme.test>", 250, "")
	c.must("AUTH PLAIN AGFjbWUAc2VjcmV0", 503, "5.5.1")
}

func TestAuthLogin(t *testing.T) {
	e := newEnv(t, nil)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	c := dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	if msg := c.must("AUTH LOGIN", 334, ""); msg != b64("Username:") {
		t.Errorf("first challenge %q, want base64 Username:", msg)
	}
	if msg := c.must(b64("acme"), 334, ""); msg != b64("Password:") {
		t.Errorf("second challenge %q, want base64 Password:", msg)
	}
	c.must(b64("secret"), 235, "2.0.0")
	if code, msg := sendRaw(c, "a@acme.test", []string{"b@gmail.test"}, testBody); code != 250 {
		t.Fatalf("after AUTH LOGIN: %d %s", code, msg)
	}

	// The username as initial response skips the first challenge.
	c = dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	if msg := c.must("AUTH LOGIN "+b64("acme"), 334, ""); msg != b64("Password:") {
		t.Errorf("challenge after initial response %q, want base64 Password:", msg)
	}
	c.must(b64("secret"), 235, "2.0.0")

	c = dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	c.must("AUTH LOGIN "+b64("acme"), 334, "")
	c.must(b64("wrong"), 535, "5.7.8")
}

func TestAuthFailures(t *testing.T) {
	e := newEnv(t, nil)
	c := dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	code, wrong := c.authPlain("acme", "wrong")
	if code != 535 || !strings.HasPrefix(wrong, "5.7.8 ") {
		t.Fatalf("wrong password: %d %s, want 535 5.7.8", code, wrong)
	}
	code, unknown := c.authPlain("nobody", "secret")
	if code != 535 || unknown != wrong {
		t.Errorf("unknown user: %d %q; wrong password: %q: must be the same", code, unknown, wrong)
	}
	// Acting as another user is refused.
	c.must("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("other\x00acme\x00secret")), 535, "5.7.8")
	c.must("MAIL FROM:<a@acme.test>", 530, "5.7.0")
}

func TestMailWithoutAuth(t *testing.T) {
	e := newEnv(t, nil)
	c := dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	c.must("MAIL FROM:<a@acme.test>", 530, "5.7.0")
	c.must("RCPT TO:<b@gmail.test>", 502, "") // no transaction began
}

func TestTrustedNetwork(t *testing.T) {
	nets, _ := account.ParseNetworks([]string{"127.0.0.1/32"})
	e := newEnv(t, nil, &account.Account{Name: "lan", Domains: []string{"lan.test"}, Networks: nets,
		Status: account.StatusActive})
	c := dialRaw(t, e.addr)
	c.must("EHLO web1.lan.test", 250, "")
	c.must("MAIL FROM:<a@acme.test>", 553, "5.7.1") // not lan's domain
	code, msg := sendRaw(c, "www-data@lan.test", []string{"b@gmail.test"}, strings.Replace(testBody, "a@acme.test", "www-data@lan.test", 1))
	if code != 250 {
		t.Fatalf("trusted relay: %d %s", code, msg)
	}
	id := queuedID(t, msg)
	m, err := e.store.GetMessage(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if m.Account != "lan" {
		t.Errorf("stored under account %q, want lan", m.Account)
	}
	if body := e.messages()[id]; !strings.Contains(body, " with ESMTP id "+id) {
		t.Errorf("Received should say ESMTP (no AUTH, no TLS):\n%s", body)
	}
}

func TestForeignSender(t *testing.T) {
	e := newEnv(t, nil)
	c := dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	c.must("AUTH PLAIN AGFjbWUAc2VjcmV0", 235, "")
	c.must("MAIL FROM:<ceo@bank.test>", 553, "5.7.1")
	c.must("MAIL FROM:<ceo@acme.test.bank.test>", 553, "5.7.1")
	c.must("MAIL FROM:<news@mail.acme.test>", 250, "")
	c.must("RCPT TO:<not an address>", 501, "") // go-smtp's parser
	c.must("RCPT TO:<bob@[192.0.2.1]>", 553, "5.1.3")
}

func TestOversize(t *testing.T) {
	e := newEnv(t, nil) // 64 KiB
	c := dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	c.must("AUTH PLAIN AGFjbWUAc2VjcmV0", 235, "")
	c.must("MAIL FROM:<a@acme.test> SIZE=70000", 552, "5.3.4")

	big := testBody + strings.Repeat(strings.Repeat("x", 98)+"\r\n", 700) // 70 KB
	code, msg := sendRaw(c, "a@acme.test", []string{"b@gmail.test"}, big)
	if code != 552 || !strings.HasPrefix(msg, "5.3.4 ") {
		t.Fatalf("oversize DATA: %d %s, want 552 5.3.4", code, msg)
	}
	// The rest of the data was read: the session goes on.
	c.must("NOOP", 250, "")
	if n := len(e.messages()); n != 0 {
		t.Errorf("%d messages stored, want none", n)
	}
}

func TestLineTooLong(t *testing.T) {
	e := newEnv(t, nil)
	c := dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	c.must("AUTH PLAIN AGFjbWUAc2VjcmV0", 235, "")
	code, msg := sendRaw(c, "a@acme.test", []string{"b@gmail.test"}, testBody+strings.Repeat("x", 3000)+"\r\n")
	if code != 500 || !strings.HasPrefix(msg, "5.4.0 ") {
		t.Errorf("3000-octet line: %d %s, want 500 5.4.0", code, msg)
	}
	if n := len(e.messages()); n != 0 {
		t.Errorf("%d messages stored, want none", n)
	}
}

func TestTooManyRecipients(t *testing.T) {
	e := newEnv(t, nil) // at most 5
	c := dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	c.must("AUTH PLAIN AGFjbWUAc2VjcmV0", 235, "")
	c.must("MAIL FROM:<a@acme.test>", 250, "")
	for i := range 5 {
		c.must("RCPT TO:<r"+string(rune('0'+i))+"@gmail.test>", 250, "")
	}
	c.must("RCPT TO:<r5@gmail.test>", 452, "4.5.3")
	c.must("DATA", 354, "")
	c.writeRaw(testBody + ".\r\n")
	id := queuedID(t, c.expect(250))
	m, err := e.store.GetMessage(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Recipients) != 5 {
		t.Errorf("%d recipients stored, want the 5 accepted", len(m.Recipients))
	}
}

func TestSTARTTLS(t *testing.T) {
	cert, pool := selfSigned(t, "relay.sendpool.test")
	e := newEnv(t, func(c *Config) { c.TLS = cert })
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("no STARTTLS")
	}
	if err := c.StartTLS(&tls.Config{ServerName: "relay.sendpool.test", RootCAs: pool}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered again inside TLS")
	}
	if ok, mechs := c.Extension("AUTH"); !ok || mechs != "PLAIN LOGIN" {
		t.Errorf("AUTH over TLS: %v %q", ok, mechs)
	}
	if err := c.Auth(smtp.PlainAuth("", "acme", "secret", "127.0.0.1")); err != nil {
		t.Fatalf("AUTH over TLS: %v", err)
	}
	if err := sendNetSMTP(c, "a@acme.test", []string{"b@gmail.test"}, testBody); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	for id, body := range e.messages() {
		if !strings.Contains(body, " with ESMTPSA id "+id) {
			t.Errorf("Received should say ESMTPSA:\n%s", body)
		}
		// The message's intake record says TLS too.
		m, err := e.store.GetMessage(context.Background(), id)
		if err != nil || m.Intake == nil || !m.Intake.TLS || m.Intake.With != "ESMTPSA" || m.Intake.Account != "acme" {
			t.Errorf("intake record: %+v, %v", m, err)
		}
	}
}

func TestAuthAllowed(t *testing.T) {
	remote := netip.MustParseAddr("192.0.2.10")
	for _, c := range []struct {
		tls, insecure bool
		addr          netip.Addr
		want          bool
	}{
		{false, false, remote, false}, // a password in clear over a network
		{true, false, remote, true},
		{false, true, remote, true},
		{false, false, loopback, true},
		{false, false, netip.MustParseAddr("::1"), true},
		{false, false, netip.MustParseAddr("::ffff:127.0.0.5"), true},
		{false, false, netip.MustParseAddr("::ffff:192.0.2.10"), false},
		{false, false, netip.Addr{}, false},
	} {
		if got := authAllowed(c.tls, c.insecure, c.addr); got != c.want {
			t.Errorf("authAllowed(tls=%v, insecure=%v, %v) = %v, want %v", c.tls, c.insecure, c.addr, got, c.want)
		}
	}
}

// TestSmuggling sends, inside one DATA, an end of data that some receivers
// accept (bare LF) followed by a whole second transaction. go-smtp must not
// end DATA there: the client gets exactly one reply for the whole DATA, the
// next reply is that of QUIT, and exactly one message is stored, holding the
// smuggled lines as text with every line ending made CRLF.
func TestSmuggling(t *testing.T) {
	e := newEnv(t, nil)
	smuggled := "MAIL FROM:<ceo@acme.test>%RCPT TO:<victim@gmail.test>%DATA%Subject: smuggled%%pay now"
	for _, c := range []struct{ name, end, eol string }{
		{"LF.LF", "\n.\n", "\n"},
		{"LF.CRLF", "\n.\r\n", "\r\n"},
		{"CRLF.LF", "\r\n.\n", "\n"},
		{"CR.CR", "\r.\r", "\r"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := dialRaw(t, e.addr)
			cl.must("EHLO client.test", 250, "")
			cl.must("AUTH PLAIN AGFjbWUAc2VjcmV0", 235, "")
			// The smuggled message ends as the first part did; then the
			// real end: a line of our own, and sendRaw's ".\r\n".
			data := testBody + "first" + c.end + strings.ReplaceAll(smuggled, "%", c.eol) + c.end + "trailer\r\n"
			before := len(e.messages())
			code, msg := sendRaw(cl, "a@acme.test", []string{"b@gmail.test"}, data)
			if code != 250 {
				t.Fatalf("DATA with %q: %d %s, want one 250", c.end, code, msg)
			}
			cl.must("QUIT", 221, "")
			if rest, _ := io.ReadAll(cl.conn); len(rest) != 0 {
				t.Errorf("extra replies after QUIT: %q", rest)
			}
			msgs := e.messages()
			if len(msgs) != before+1 {
				t.Fatalf("stored %d messages, want one more than %d", len(msgs), before)
			}
			body := msgs[queuedID(t, msg)]
			// (A dot starting a line after CRLF is unstuffed as usual.)
			bare := strings.Count(body, "\n") != strings.Count(body, "\r\n") || strings.Count(body, "\r") != strings.Count(body, "\r\n")
			if bare || !strings.Contains(body, "\r\nMAIL FROM:<ceo@acme.test>\r\n") || !strings.HasSuffix(body, "trailer\r\n") {
				t.Errorf("stored body does not hold the smuggled text as normalised lines: %q", body)
			}
		})
	}
}

func TestShutdownClosesIdleConnections(t *testing.T) {
	e := newEnv(t, nil)
	c := dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with an idle client = %v, want deadline exceeded", err)
	}
	// The idle connection was closed for it.
	if _, err := c.tp.ReadLine(); err == nil {
		t.Error("connection still open after Shutdown gave up waiting")
	}
	if conn, err := net.DialTimeout("tcp", e.addr, 5*time.Second); err == nil {
		conn.Close()
		t.Error("server still accepts connections after Shutdown")
	}
}

// TestBDAT: go-smtp always offers CHUNKING (RFC 3030), where Data runs in
// its own goroutine; the same checks apply.
func TestBDAT(t *testing.T) {
	e := newEnv(t, nil)
	c := dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	c.must("AUTH PLAIN AGFjbWUAc2VjcmV0", 235, "")
	c.must("MAIL FROM:<a@acme.test>", 250, "")
	c.must("RCPT TO:<b@gmail.test>", 250, "")
	half := len(testBody) / 2
	c.writeRaw(fmt.Sprintf("BDAT %d\r\n%s", half, testBody[:half]))
	c.expect(250)
	c.writeRaw(fmt.Sprintf("BDAT %d LAST\r\n%s", len(testBody)-half, testBody[half:]))
	id := queuedID(t, c.expect(250))
	if body, ok := e.messages()[id]; !ok || !strings.HasSuffix(body, testBody) {
		t.Errorf("BDAT message %s not stored whole: %q", id, body)
	}

	bare := "From: a@acme.test\r\nSubject: x\r\n\r\nfirst\n.\nMAIL FROM:<ceo@acme.test>\n"
	c.must("MAIL FROM:<a@acme.test>", 250, "")
	c.must("RCPT TO:<b@gmail.test>", 250, "")
	c.writeRaw(fmt.Sprintf("BDAT %d LAST\r\n%s", len(bare), bare))
	if code, msg := c.reply(); code != 250 {
		t.Errorf("BDAT with bare LF: %d %s, want 250", code, msg)
	}
	c.must("QUIT", 221, "")
	if n := len(e.messages()); n != 2 {
		t.Errorf("%d messages stored, want 2", n)
	}
}

func TestListenAndServeBadAddress(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.srv.ListenAndServe([]string{"127.0.0.1:0", "256.0.0.1:25"}); err == nil {
		t.Error("ListenAndServe with a bad address succeeded")
	}
	if _, err := New(Config{Hostname: "x.test"}); err == nil {
		t.Error("New without intake succeeded")
	}
}

// TestCloseBeforeServe: a Serve that starts after Close must return, not
// accept forever (go-smtp's Close only closes the listeners it has).
func TestCloseBeforeServe(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { e.srv.Serve(l); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		l.Close()
		t.Fatal("Serve after Close still running after 5s")
	}
	if conn, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		conn.Close()
		t.Error("listener still open after Serve returned")
	}
}
