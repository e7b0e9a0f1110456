package inbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sendpool/internal/account"
	"sendpool/internal/dns"
	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
	"sendpool/internal/scan"
	"sendpool/internal/state"
	"sendpool/internal/state/memory"
	"sendpool/internal/testclock"
)

// world is one MX under test: the sandbox DNS, a sink as the accounts'
// inbound_host, a memory state and a queue that keeps what is put.
type world struct {
	t      *testing.T
	clock  *testclock.Clock
	dns    *sandbox.DNSServer
	sink   *sandbox.Sink
	state  state.State
	queue  *memQueue
	zoneEr atomic.Int32
	known  map[string]bool // mailboxes at the sink
}

type memQueue struct {
	mu   sync.Mutex
	msgs []*queue.Message
}

func (q *memQueue) Put(_ context.Context, m *queue.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, m)
	return nil
}

func (q *memQueue) all() []*queue.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]*queue.Message(nil), q.msgs...)
}

type accounts []*account.Account

func (a accounts) ListAccounts(context.Context) ([]*account.Account, error) { return a, nil }

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, clock: testclock.New(), queue: &memQueue{},
		known: map[string]bool{"alice@shop.test": true, "bob@shop.test": true}}
	var err error
	if w.dns, err = sandbox.NewDNSServer("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.dns.Close() })
	if w.sink, err = sandbox.NewSink(sandbox.SinkConfig{Addr: "127.0.0.1:0", Hostname: "mail.shop.test"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.sink.Close() })
	w.sink.SetHandler(func(ev sandbox.Event) *sandbox.Reply {
		if ev.Stage == sandbox.StageRcpt && !w.known[strings.ToLower(ev.Rcpt)] {
			return &sandbox.Reply{Text: "550 5.1.1 No such user"}
		}
		return nil
	})
	w.state = memory.New(w.clock.Now)
	// The clients' names: 127.0.0.20-29 have forward-confirmed ones.
	for i := 20; i < 30; i++ {
		ip := "127.0.0." + itoa(i)
		w.dns.SetPTR(ip, "mta"+itoa(i)+".sender.test")
		w.dns.SetA("mta"+itoa(i)+".sender.test", ip)
	}
	return w
}

func itoa(i int) string { return strconv.Itoa(i) }

// config is a gate's config in w, greet pause short.
func (w *world) config() Config {
	r, err := dns.New([]string{w.dns.Addr()}, dns.Options{Timeout: 2 * time.Second})
	if err != nil {
		w.t.Fatal(err)
	}
	acct := &account.Account{Name: "shop", Domains: []string{"shop.test"}, InboundHost: w.sink.Addr()}
	return Config{
		Hostname: "mx.relay.test", Now: w.clock.Now,
		Hosted: NewHosted(accounts{acct}, 0, w.clock.Now), Queue: w.queue, State: w.state, Resolver: r,
		Scanner:     scan.NewCheck(scan.CheckConfig{Scanners: []scan.Scanner{scan.Heuristics{}}, RejectScore: 10}),
		OnZoneError: func(string) { w.zoneEr.Add(1) },
		GreetPause:  300 * time.Millisecond, PassFor: time.Hour, BanFor: time.Hour,
		MaxConnections: 100, MaxConnectionsPerIP: 10, ConnectionsPerMinute: 100,
		MaxUnknownRecipients: 3, MaxErrors: 10, MaxMessageSize: 1 << 20, MaxRecipients: 10,
		Lists: []List{
			{Zone: "bl.test", Weight: 1, Codes: []netip.Addr{netip.MustParseAddr("127.0.0.2")}},
			{Zone: "wl.test", Weight: -1},
		},
		Threshold: 1, FCrDNSWeight: 0.3, HELOWeight: 0.2, LookupTimeout: 5 * time.Second,
		Verify: VerifyCallout, CalloutTimeout: 5 * time.Second, CalloutPort: 25,
		CalloutPos: time.Hour, CalloutNeg: 10 * time.Minute,
		RejectScore: 10, TagScore: 5,
		Greylist: GreylistSuspicious, GreylistDelay: 5 * time.Minute, GreylistRetryWindow: 24 * time.Hour,
		GreylistPassFor: 24 * time.Hour, DecisionsKept: 100, MaxQueueTime: time.Hour,
	}
}

// start runs a gate on cfg; it returns its address.
func (w *world) start(cfg Config) string {
	w.t.Helper()
	s, err := New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.t.Fatal(err)
	}
	go s.Serve(l)
	w.t.Cleanup(func() { s.Close() })
	return l.Addr().String()
}

// dial connects to addr from the loopback address from.
func dial(t *testing.T, addr, from string) *smtp.Client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := smtp.NewClient(conn)
	t.Cleanup(func() { c.Close() })
	return c
}

// send runs one transaction from the address from and returns the first
// error (an *smtp.SMTPError for a reply).
func send(t *testing.T, addr, from, helo, mailFrom string, rcpts []string, body string) error {
	t.Helper()
	c := dial(t, addr, from)
	if err := c.Hello(helo); err != nil {
		return err
	}
	if err := c.Mail(mailFrom, nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	wc, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := wc.Write([]byte(body)); err != nil {
		return err
	}
	if err := wc.Close(); err != nil {
		return err
	}
	c.Quit()
	return nil
}

// wantReply checks err is the reply code and enhanced code, and that its
// text holds text.
func wantReply(t *testing.T, err error, code int, enhanced, text string) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want %d %s", err, code, enhanced)
	}
	got := fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	if se.Code != code || enhanced != "" && got != enhanced || !strings.Contains(se.Message, text) {
		t.Fatalf("reply %d %s %q, want %d %s …%s…", se.Code, got, se.Message, code, enhanced, text)
	}
}

func message(from, to, subject, body string) string {
	return "From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject + "\r\nMessage-ID: <" + subject +
		"@test>\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\n" + body + "\r\n"
}
