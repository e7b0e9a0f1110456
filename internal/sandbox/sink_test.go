package sandbox

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// sinkClient is a raw SMTP client, so the tests see exactly what the sink
// sends.
type sinkClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func newTestSink(t *testing.T, cfg SinkConfig) *Sink {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sinkDial connects to s from source address src.
func sinkDial(t *testing.T, s *Sink, src string) *sinkClient {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &sinkClient{t: t, c: c, r: bufio.NewReader(c)}
}

// reply reads one reply, its lines joined by \n.
func (c *sinkClient) reply() string {
	c.t.Helper()
	var lines []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading reply: %v (so far %q)", err, lines)
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

func (c *sinkClient) write(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatal(err)
	}
}

// expect sends a command and checks that the reply starts with want.
func (c *sinkClient) expect(cmd, want string) string {
	c.t.Helper()
	if cmd != "" {
		c.write(cmd + "\r\n")
	}
	got := c.reply()
	if !strings.HasPrefix(got, want) {
		c.t.Fatalf("%q: got %q, want %q…", cmd, got, want)
	}
	return got
}

// closed checks that the sink closed the connection without a reply.
func (c *sinkClient) closed() {
	c.t.Helper()
	if l, err := c.r.ReadString('\n'); err == nil {
		c.t.Fatalf("connection still open, read %q", l)
	}
}

func TestSinkReceives(t *testing.T) {
	s := newTestSink(t, SinkConfig{Hostname: "mx.sink.test"})
	c := sinkDial(t, s, "127.0.0.3")
	c.expect("", "220 mx.sink.test ")
	ehlo := c.expect("EHLO mta1.sender.test", "250-mx.sink.test")
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE "} {
		if !strings.Contains(ehlo, ext) {
			t.Errorf("EHLO reply lacks %s: %q", ext, ehlo)
		}
	}
	if strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("STARTTLS offered without TLS config: %q", ehlo)
	}
	c.expect("MAIL FROM:<a@sender.test> SIZE=100 BODY=8BITMIME SMTPUTF8", "250 ")
	c.expect("RCPT TO:<x@sink.test>", "250 ")
	c.expect("RCPT TO:<y@sink.test>", "250 ")
	c.expect("DATA", "354 ")
	// A bare-LF dot line must not end the data (SMTP smuggling); dotted
	// lines are unstuffed.
	c.write("Subject: hi\r\n\r\n..leading dot\r\nbare\n.\nstill data\r\n.\r\n")
	c.expect("", "250 2.0.0")
	c.expect("QUIT", "221 ")

	if err := s.WaitMessages(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	m := s.Messages()[0]
	if want := "Subject: hi\r\n\r\n.leading dot\r\nbare\n.\nstill data\r\n"; string(m.Data) != want {
		t.Errorf("data %q, want %q", m.Data, want)
	}
	if m.From != "a@sender.test" || strings.Join(m.To, ",") != "x@sink.test,y@sink.test" {
		t.Errorf("envelope %q -> %q", m.From, m.To)
	}
	if m.SourceIP != "127.0.0.3" || m.EHLO != "mta1.sender.test" || m.TLS {
		t.Errorf("message from %s as %s tls=%v", m.SourceIP, m.EHLO, m.TLS)
	}
	conns := s.Conns()
	if len(conns) != 1 || conns[0].SourceIP != "127.0.0.3" || conns[0].EHLO != "mta1.sender.test" {
		t.Errorf("conns %+v", conns)
	}
	if s.ConnsFrom("127.0.0.3") != 1 || s.ConnsFrom("127.0.0.4") != 0 {
		t.Errorf("ConnsFrom counts wrong: %+v", conns)
	}
}

func TestSinkSequenceAndPipelining(t *testing.T) {
	s := newTestSink(t, SinkConfig{})
	s.SetRules(Rule{Stage: StageRcpt, Rcpt: "y@sink.test", Delay: 100 * time.Millisecond})
	c := sinkDial(t, s, "127.0.0.2")
	c.expect("", "220 ")
	c.expect("MAIL FROM:<a@sender.test>", "503 ")
	c.expect("EHLO a.test", "250")
	c.expect("RCPT TO:<x@sink.test>", "503 ")
	c.expect("MAIL FROM:<a@sender.test> FOO=1", "555 ")
	// RFC 2920: several commands in one write, replies in order.
	c.write("MAIL FROM:<>\r\nRCPT TO:<x@sink.test>\r\nRCPT TO:<y@sink.test>\r\nDATA\r\n")
	c.expect("", "250 ")
	// RFC 2920 §3.2: the group's replies came in one write, so the read
	// that brought the first brought the others, the reply to y slow as it
	// was (a sink that wrote each reply at once would have sent the first
	// two before waiting).
	if rest, _ := c.r.Peek(c.r.Buffered()); strings.Count(string(rest), "\r\n") != 3 {
		t.Errorf("after the first reply of the group, %q was buffered, want the other 3", rest)
	}
	c.expect("", "250 ")
	c.expect("", "250 ")
	c.expect("", "354 ")
	c.write("x\r\n.\r\n")
	c.expect("", "250 ")
	c.expect("NOOP", "250 ")
	c.expect("RSET", "250 ")
	c.expect("DATA", "503 ")
	c.expect("BOGUS", "500 ")
	c.expect("QUIT", "221 ")
	if m := s.Messages(); len(m) != 1 || m[0].From != "" || len(m[0].To) != 2 {
		t.Errorf("messages %+v", m)
	}
	// Commands grouped by arrival; the data lines are none.
	want := "MAIL|EHLO|RCPT|MAIL|MAIL RCPT RCPT DATA|NOOP|RSET|DATA|BOGUS|QUIT"
	var got []string
	for _, g := range s.Conns()[0].Groups {
		got = append(got, strings.Join(g, " "))
	}
	if strings.Join(got, "|") != want {
		t.Errorf("groups %q, want %s", got, want)
	}
}

func TestSinkGreetingRuleBySourceIP(t *testing.T) {
	s := newTestSink(t, SinkConfig{})
	s.SetRules(Rule{SourceIP: "127.0.0.3", Stage: StageGreeting, Reply: "554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.test"})

	c := sinkDial(t, s, "127.0.0.3")
	c.expect("", "554 5.7.1 Service unavailable")
	// RFC 5321 §3.1: after a 554 greeting only QUIT is served.
	c.expect("EHLO a.test", "503 ")
	c.expect("QUIT", "221 ")

	c = sinkDial(t, s, "127.0.0.4")
	c.expect("", "220 ")
	if s.ConnsFrom("127.0.0.3") != 1 || s.ConnsFrom("127.0.0.4") != 1 {
		t.Errorf("conns %+v", s.Conns())
	}
}

// transaction runs one transaction for rcpt and returns the reply to RCPT
// and, when accepted, to the end of data.
func (c *sinkClient) transaction(rcpt string) (rcptReply, eodReply string) {
	c.t.Helper()
	c.expect("MAIL FROM:<a@sender.test>", "250 ")
	rcptReply = c.expect("RCPT TO:<"+rcpt+">", "")
	if rcptReply[0] != '2' {
		c.expect("RSET", "250 ")
		return rcptReply, ""
	}
	c.expect("DATA", "354 ")
	c.write("body\r\n.\r\n")
	return rcptReply, c.reply()
}

func TestSinkRuleAttemptAndTimes(t *testing.T) {
	s := newTestSink(t, SinkConfig{})
	s.SetRules(
		// Greylisting: the first RCPT for x is deferred, wherever it comes from.
		Rule{Stage: StageRcpt, Rcpt: "x@sink.test", Attempt: 1, Reply: "451 4.7.1 Greylisted, try again later"},
		// The first two ends of data for y are refused, then it expires.
		Rule{Stage: StageEOD, Rcpt: "Y@sink.test", Times: 2, Reply: "452 4.3.1 Insufficient system storage"},
	)
	c := sinkDial(t, s, "127.0.0.2")
	c.expect("", "220 ")
	c.expect("EHLO a.test", "250")
	if r, _ := c.transaction("x@sink.test"); r != "451 4.7.1 Greylisted, try again later" {
		t.Errorf("first rcpt: %q", r)
	}
	c2 := sinkDial(t, s, "127.0.0.5")
	c2.expect("", "220 ")
	c2.expect("EHLO b.test", "250")
	if r, e := c2.transaction("x@sink.test"); r[0] != '2' || e[0] != '2' {
		t.Errorf("second try: %q %q", r, e)
	}
	for i, want := range []string{"452 4.3.1", "452 4.3.1", "250 2.0.0"} {
		if _, e := c.transaction("y@sink.test"); !strings.HasPrefix(e, want) {
			t.Errorf("y try %d: %q, want %q", i+1, e, want)
		}
	}
	if n := len(s.Messages()); n != 2 {
		t.Errorf("%d messages recorded, want 2 (refused ones are not)", n)
	}

	// Reset forgets the counts: the greylisting rule applies again.
	s.Reset()
	if len(s.Messages()) != 0 || len(s.Conns()) != 0 {
		t.Error("Reset kept records")
	}
	if r, _ := c.transaction("x@sink.test"); r[0] != '4' {
		t.Errorf("after Reset: %q", r)
	}
}

func TestSinkDrops(t *testing.T) {
	s := newTestSink(t, SinkConfig{})
	s.SetRules(
		Rule{Stage: StageData, Rcpt: "mid@sink.test", Drop: true},
		Rule{Stage: StageEOD, Rcpt: "eod@sink.test", Drop: true},
		Rule{Stage: StageGreeting, SourceIP: "127.0.0.4", Drop: true},
	)
	c := sinkDial(t, s, "127.0.0.2")
	c.expect("", "220 ")
	c.expect("EHLO a.test", "250")
	c.expect("MAIL FROM:<a@sender.test>", "250 ")
	c.expect("RCPT TO:<mid@sink.test>", "250 ")
	c.expect("DATA", "354 ")
	c.write("first line\r\n")
	c.closed()

	c = sinkDial(t, s, "127.0.0.2")
	c.expect("", "220 ")
	c.expect("EHLO a.test", "250")
	c.expect("MAIL FROM:<a@sender.test>", "250 ")
	c.expect("RCPT TO:<eod@sink.test>", "250 ")
	c.expect("DATA", "354 ")
	c.write("all of it\r\n.\r\n")
	c.closed()

	sinkDial(t, s, "127.0.0.4").closed()
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d messages recorded from dropped sessions", n)
	}
}

func TestSinkHandler(t *testing.T) {
	s := newTestSink(t, SinkConfig{})
	var (
		mu   sync.Mutex
		seen []string
	)
	s.SetHandler(func(ev Event) *Reply {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, ev.Stage)
		if ev.Stage == StageEOD {
			return &Reply{Text: "550-5.7.1 Message rejected\n550 5.7.1 see https://help.test"}
		}
		return nil
	})
	c := sinkDial(t, s, "127.0.0.2")
	c.expect("", "220 ")
	c.expect("HELO a.test", "250 ")
	_, e := c.transaction("x@sink.test")
	if want := "550-5.7.1 Message rejected\n550 5.7.1 see https://help.test"; e != want {
		t.Errorf("eod reply %q, want %q", e, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(seen, ","); got != "greeting,ehlo,mail,rcpt,data,eod" {
		t.Errorf("handler saw %s", got)
	}
}

func TestSinkStartTLS(t *testing.T) {
	s := newTestSink(t, SinkConfig{TLS: sinkTestTLS(t)})
	c := sinkDial(t, s, "127.0.0.2")
	c.expect("", "220 ")
	if ehlo := c.expect("EHLO a.test", "250"); !strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("STARTTLS not offered: %q", ehlo)
	}
	c.expect("STARTTLS", "220 ")
	tc := tls.Client(c.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.c, c.r = tc, bufio.NewReader(tc)
	// RFC 3207 §4.2: EHLO again, and STARTTLS is no longer offered.
	c.expect("MAIL FROM:<a@sender.test>", "503 ")
	if ehlo := c.expect("EHLO a.test", "250"); strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("STARTTLS offered inside TLS: %q", ehlo)
	}
	if _, e := c.transaction("x@sink.test"); e[0] != '2' {
		t.Fatalf("eod %q", e)
	}
	if m := s.Messages(); len(m) != 1 || !m[0].TLS {
		t.Errorf("messages %+v", m)
	}
	if cs := s.Conns(); len(cs) != 1 || !cs[0].TLS || cs[0].EHLO != "a.test" {
		t.Errorf("conns %+v", cs)
	}
}

func TestSinkWaitMessages(t *testing.T) {
	s := newTestSink(t, SinkConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.WaitMessages(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitMessages with none: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.WaitMessages(context.Background(), 1) }()
	c := sinkDial(t, s, "127.0.0.2")
	c.expect("", "220 ")
	c.expect("EHLO a.test", "250")
	c.transaction("x@sink.test")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// sinkTestTLS is a self-signed certificate for the sink.
func sinkTestTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sink.test"},
		DNSNames:     []string{"sink.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}
