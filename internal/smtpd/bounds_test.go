package smtpd

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/netip"
	"net/smtp"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// connectFrom opens a connection from a chosen loopback source address and
// returns the server's first reply (220, or 421 over a cap).
func connectFrom(t *testing.T, addr, local string) (*rawClient, int, string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{t: t, conn: conn, tp: textproto.NewConn(conn)}
	code, msg := c.reply()
	return c, code, msg
}

// wantClosed wants the server to have closed the connection: EOF, or a
// reset if the server closed with the client's bytes unread.
func wantClosed(t *testing.T, c *rawClient) {
	t.Helper()
	line, err := c.tp.ReadLine()
	if err == nil {
		t.Fatalf("read %q; want the connection closed", line)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection stayed open: %v", err)
	}
}

// TestConnectionCaps: the 51st connection from one IP gets 421 4.7.0 and
// is closed (issue 13: 400 from one IP all got 220), other IPs still get
// in until the total cap, and a closed connection frees its slot.
func TestConnectionCaps(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxConnectionsPerIP = 50; c.MaxConnections = 60 })
	var first *rawClient
	for i := range 50 {
		c, code, msg := connectFrom(t, e.addr, "127.0.0.1")
		if code != 220 {
			t.Fatalf("connection %d: %d %s, want 220", i+1, code, msg)
		}
		if first == nil {
			first = c
		}
	}
	c, code, msg := connectFrom(t, e.addr, "127.0.0.1")
	if code != 421 || !strings.HasPrefix(msg, "4.7.0 ") {
		t.Fatalf("connection 51 from one IP: %d %s, want 421 4.7.0", code, msg)
	}
	wantClosed(t, c)

	for i := range 10 {
		if _, code, msg := connectFrom(t, e.addr, "127.0.0.2"); code != 220 {
			t.Fatalf("connection %d from another IP: %d %s, want 220", i+1, code, msg)
		}
	}
	if _, code, msg := connectFrom(t, e.addr, "127.0.0.3"); code != 421 || !strings.HasPrefix(msg, "4.7.0 ") {
		t.Fatalf("connection 61 in all: %d %s, want 421 4.7.0", code, msg)
	}
	if !strings.Contains(e.logs.String(), "check=submission.max_connections_per_ip") {
		t.Errorf("no log line for the refusal:\n%s", e.logs.String())
	}

	first.conn.Close()
	waitOpen(t, e, "127.0.0.1", 49)
	if _, code, msg := connectFrom(t, e.addr, "127.0.0.1"); code != 220 {
		t.Fatalf("after one closed: %d %s, want 220", code, msg)
	}
}

// waitOpen waits until the server counts n connections from ip.
func waitOpen(t *testing.T, e *env, ip string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, got := e.srv.srv.Open(netip.MustParseAddr(ip)); got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server never counted %d connections from %s", n, ip)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLoginTimeout: a session that neither authenticates nor starts a
// transaction ends at login_timeout however busy it keeps (issue 13: NOOP
// every 240 s kept one for good); one that authenticated goes on.
func TestLoginTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LoginTimeout = 300 * time.Millisecond })
	idle := dialRaw(t, e.addr)
	idle.must("EHLO client.test", 250, "")
	authed := dialRaw(t, e.addr)
	authed.must("EHLO client.test", 250, "")
	authed.must("AUTH PLAIN "+plain("acme", "secret"), 235, "2.0.0")

	var last string
	for range 100 { // 10 s at most
		code, msg := idle.cmd("NOOP")
		if code == 421 {
			last = msg
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.HasPrefix(last, "4.4.2 ") {
		t.Fatalf("a session without AUTH or MAIL was not ended: last reply %q, want 421 4.4.2", last)
	}
	wantClosed(t, idle)
	authed.must("NOOP", 250, "2.0.0")
	if !strings.Contains(e.logs.String(), "check=submission.login_timeout") {
		t.Errorf("no log line for the login timeout:\n%s", e.logs.String())
	}
}

// TestJunkCommandsCapped: past max_junk_commands NOOPs (or RSETs) and past
// max_errors bad commands without a message accepted, 421 4.7.0 and the
// connection closed; an accepted message starts the counts again.
func TestJunkCommandsCapped(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxJunkCommands = 5; c.MaxErrors = 3 })
	c := dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	c.must("AUTH PLAIN "+plain("acme", "secret"), 235, "2.0.0")
	for range 3 {
		c.must("NOOP", 250, "2.0.0")
	}
	c.must("RSET", 250, "2.0.0")
	c.must("VRFY bob", 252, "")
	if code, msg := sendRaw(c, "a@acme.test", []string{"b@gmail.test"}, testBody); code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	for range 5 { // the message started the count again
		c.must("NOOP", 250, "2.0.0")
	}
	c.must("NOOP", 250, "2.0.0") // the 6th is answered, then the session ends
	if code, msg := c.reply(); code != 421 || !strings.HasPrefix(msg, "4.7.0 ") {
		t.Fatalf("after the 6th junk command: %d %s, want 421 4.7.0", code, msg)
	}
	wantClosed(t, c)

	c = dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	for range 3 {
		c.must("RCPT TO:<b@gmail.test>", 502, "5.5.1") // no MAIL
	}
	c.must("DATA", 502, "5.5.1")
	if code, msg := c.reply(); code != 421 || !strings.HasPrefix(msg, "4.7.0 ") {
		t.Fatalf("after the 4th bad command: %d %s, want 421 4.7.0", code, msg)
	}
	wantClosed(t, c)
}

// TestHeaderTooBig: a header section over max_header_size gets 552 5.3.4,
// counted as it arrives (issue 13: 20 MB of header fields were queued),
// and the session goes on; the same message with a smaller header is
// accepted.
func TestHeaderTooBig(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxMessageSize = 8 << 20; c.MaxHeaderSize = 1 << 20 })
	c := dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	c.must("AUTH PLAIN "+plain("acme", "secret"), 235, "2.0.0")
	field := "X-Pad: " + strings.Repeat("p", 990) + "\r\n"
	big := "From: a@acme.test\r\n" + strings.Repeat(field, 2<<20/len(field)) + "\r\nbody\r\n"
	code, msg := sendRaw(c, "a@acme.test", []string{"b@gmail.test"}, big)
	if code != 552 || !strings.HasPrefix(msg, "5.3.4 ") {
		t.Fatalf("2 MB header: %d %s, want 552 5.3.4", code, msg)
	}
	small := "From: a@acme.test\r\n" + strings.Repeat(field, 100) + "\r\n" + strings.Repeat(strings.Repeat("b", 70)+"\r\n", 2<<20/72)
	if code, msg := sendRaw(c, "a@acme.test", []string{"b@gmail.test"}, small); code != 250 {
		t.Fatalf("100 KB header, 2 MB body: %d %s, want 250", code, msg)
	}
	if n := len(e.messages()); n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
}

// TestDataTimeout: a client that stalls inside DATA or a BDAT chunk gets
// 451 4.4.2, a temporary reply (issue 13: 554 5.0.0 with our socket
// addresses), and the connection is closed: what it sends next must not
// be read as commands.
func TestDataTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	for _, start := range []string{"DATA", "BDAT 5000 LAST"} {
		t.Run(strings.Fields(start)[0], func(t *testing.T) {
			c := dialRaw(t, e.addr)
			c.must("EHLO client.test", 250, "")
			c.must("AUTH PLAIN "+plain("acme", "secret"), 235, "2.0.0")
			c.must("MAIL FROM:<a@acme.test>", 250, "")
			c.must("RCPT TO:<b@gmail.test>", 250, "")
			if start == "DATA" {
				c.must("DATA", 354, "")
			} else {
				c.writeRaw(start + "\r\n")
			}
			c.writeRaw("From: a@acme.test\r\nSubject: stalled\r\n\r\nthe start of a body")
			code, msg := c.reply()
			if code != 451 || !strings.HasPrefix(msg, "4.4.2 ") {
				t.Fatalf("stalled %s: %d %s, want 451 4.4.2", start, code, msg)
			}
			wantClosed(t, c)
		})
	}
	if n := len(e.messages()); n != 0 {
		t.Errorf("%d stalled messages stored", n)
	}
}

// socketOrGo matches what an SMTP reply must never hold: a socket address
// (IPv4 or IPv6 with a port) or the words of a Go error.
var socketOrGo = regexp.MustCompile(`\d{1,3}(\.\d{1,3}){3}:\d+|\[[0-9a-fA-F:.]+\]:\d+|read tcp|write tcp|i/o timeout|EOF|sasl:|sqlite|smtp: |transaction failed`)

// TestRepliesNameNoSockets goes through the error paths of the server and
// checks every byte it sent: no socket address, no Go error text.
func TestRepliesNameNoSockets(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.ReadTimeout = 300 * time.Millisecond
		c.MaxConnectionsPerIP = 3
		c.MaxHeaderSize = 1 << 10
		c.LoginTimeout = 2 * time.Second
	})
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	auth := "EHLO client.test\r\nAUTH PLAIN " + plain("acme", "secret") + "\r\n"
	tx := auth + "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\n"
	sessions := map[string]string{
		"data stalls":      tx + "DATA\r\nFrom: a@acme.test\r\n\r\nhalf a body",
		"bdat stalls":      tx + "BDAT 100 LAST\r\nhalf a chunk",
		"bdat reset":       tx + "BDAT 10\r\n0123456789RSET\r\n",
		"header too big":   tx + "DATA\r\nFrom: a@acme.test\r\nX-Pad: " + strings.Repeat("p", 2000) + "\r\n\r\nx\r\n.\r\n",
		"plain malformed":  "EHLO client.test\r\nAUTH PLAIN " + b64("no separators") + "\r\n",
		"plain bad base64": "EHLO client.test\r\nAUTH PLAIN !!!\r\n",
		"login cancelled":  "EHLO client.test\r\nAUTH LOGIN\r\n" + b64("acme") + "\r\n*\r\n",
		"login timeout":    "EHLO client.test\r\nAUTH LOGIN\r\n",
		"unknown commands": "EHLO client.test\r\nXYZZY\r\nFOO\r\nBAR\r\nBAZ\r\nQUX\r\n",
		"bad sequence":     "EHLO client.test\r\nRCPT TO:<b@gmail.test>\r\nDATA\r\nBDAT 3\r\nabc",
		"idle":             "EHLO client.test\r\n",
	}
	var mu sync.Mutex
	var all bytes.Buffer
	check := func(name string, got []byte) {
		mu.Lock()
		defer mu.Unlock()
		all.Write(got)
		if m := socketOrGo.Find(got); m != nil {
			t.Errorf("%s: a reply holds %q:\n%s", name, m, got)
		}
	}
	for name, session := range sessions {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			check(name, exchange(t, e.addr, session))
		})
	}

	// The store gone: AUTH cannot read the account, DATA cannot queue.
	c := dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	c.must("AUTH PLAIN "+plain("acme", "secret"), 235, "")
	c.must("MAIL FROM:<a@acme.test>", 250, "")
	c.must("RCPT TO:<b@gmail.test>", 250, "")
	e.store.Close()
	c.must("DATA", 354, "")
	c.writeRaw(testBody + ".\r\n")
	code, msg := c.reply()
	check("store closed", []byte(msg))
	if code != 451 {
		t.Errorf("DATA with the store closed: %d %s, want 451", code, msg)
	}
	check("auth, store closed", exchange(t, e.addr, auth))

	// Over the cap, once the sessions above are gone.
	c.conn.Close()
	waitOpen(t, e, "127.0.0.1", 0)
	for range 3 {
		dialRaw(t, e.addr)
	}
	_, _, msg = connectFrom(t, e.addr, "127.0.0.1")
	check("over the cap", []byte(msg))
	t.Logf("replies seen:\n%s", all.String())
}

// exchange sends a session and returns every byte the server sent until
// it closed the connection or stayed silent for 5 s.
func exchange(t *testing.T, addr, session string) []byte {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, session); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.Bytes()
		}
	}
}

// TestJunkCommandsCappedTLS: inside TLS the replies are ciphertext, so
// each record counts, up to the replies a message may legitimately need
// (junk and error allowances, a reply per recipient, slack): a message
// with every recipient still goes through, endless NOOPs do not.
func TestJunkCommandsCappedTLS(t *testing.T) {
	cert, pool := selfSigned(t, "relay.sendpool.test")
	e := newEnv(t, func(c *Config) { c.TLS = cert; c.MaxJunkCommands = 5; c.MaxErrors = 3 })
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(&tls.Config{ServerName: "relay.sendpool.test", RootCAs: pool}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "acme", "secret", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	rcpts := []string{"b1@gmail.test", "b2@gmail.test", "b3@gmail.test", "b4@gmail.test", "b5@gmail.test"}
	for range 3 {
		if err := sendNetSMTP(c, "a@acme.test", rcpts, testBody); err != nil {
			t.Fatalf("a message of %d recipients inside TLS: %v", len(rcpts), err)
		}
	}
	for i := range 100 {
		if err := c.Noop(); err != nil {
			if i < 5 {
				t.Fatalf("NOOP %d refused: %v", i+1, err)
			}
			return // closed: the cap holds inside TLS too
		}
	}
	t.Fatal("100 NOOPs inside TLS all answered")
}
