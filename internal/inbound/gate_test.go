package inbound

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"sendpool/internal/scan"
)

const hello = "Hello.\r\n"

// TestListedClient: a client the zone lists with a configured code gets
// 554 5.7.1 naming the zone instead of the banner; one the zone answers
// its error code (127.255.255.254) for is accepted and the error counted.
func TestListedClient(t *testing.T) {
	w := newWorld(t)
	w.dns.SetA("21.0.0.127.bl.test", "127.0.0.2")
	w.dns.SetA("22.0.0.127.bl.test", "127.255.255.254")
	w.dns.SetA("23.0.0.127.bl.test", "127.0.0.9") // not among the codes
	addr := w.start(w.config())

	err := send(t, addr, "127.0.0.21", "mta21.sender.test", "x@sender.test", []string{"alice@shop.test"}, hello)
	wantReply(t, err, 554, "5.7.1", "Service unavailable; client [127.0.0.21] blocked using bl.test")

	for _, ip := range []string{"127.0.0.22", "127.0.0.23"} {
		if err := send(t, addr, ip, "mta"+ip[8:]+".sender.test", "x@sender.test", []string{"alice@shop.test"},
			message("x@sender.test", "alice@shop.test", "zone-error-"+ip, "hi")); err != nil {
			t.Fatalf("client %s (zone error): %v", ip, err)
		}
	}
	if n := w.zoneEr.Load(); n != 2 {
		t.Fatalf("zone errors counted: %d, want 2", n)
	}
	if n := len(w.queue.all()); n != 2 {
		t.Fatalf("%d messages queued, want 2", n)
	}
}

// TestPregreetBannedEverywhere: a client that talks before the banner is
// dropped and banned, and a second gate sharing the state (another node)
// refuses it too, with 421 4.7.0 at connect.
func TestPregreetBannedEverywhere(t *testing.T) {
	w := newWorld(t)
	cfg := w.config()
	a1, a2 := w.start(cfg), w.start(cfg)

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.24")}}
	conn, err := d.Dial("tcp", a1)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("EHLO too.early\r\n"))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf [512]byte
	n, _ := conn.Read(buf[:])
	conn.Close()
	if n > 0 {
		t.Fatalf("a pregreeting client got %q, want the connection dropped", buf[:n])
	}
	b, err := (&Bans{State: w.state, Now: w.clock.Now}).Get(context.Background(), netip.MustParseAddr("127.0.0.24"))
	if err != nil || b == nil || !strings.Contains(b.Reason, "pregreet") {
		t.Fatalf("ban = %+v, %v", b, err)
	}
	for _, a := range []string{a1, a2} {
		err := send(t, a, "127.0.0.24", "mta24.sender.test", "x@sender.test", []string{"alice@shop.test"}, hello)
		wantReply(t, err, 421, "4.7.0", "banned")
	}
	// Lifted, it is let in again.
	if ok, err := (&Bans{State: w.state, Now: w.clock.Now}).Unban(context.Background(), "127.0.0.24"); !ok || err != nil {
		t.Fatalf("Unban = %v, %v", ok, err)
	}
	if err := send(t, a2, "127.0.0.24", "mta24.sender.test", "x@sender.test", []string{"alice@shop.test"},
		message("x@sender.test", "alice@shop.test", "after-unban", "hi")); err != nil {
		t.Fatalf("after unban: %v", err)
	}
}

// TestRecipients: an unknown recipient (the callout's sink says 550) is
// refused with 550 5.1.1 before DATA and nothing is queued; a domain not
// hosted is refused as relay (never an open relay); past the unknown
// recipients allowed the client is banned; AUTH bans at once.
func TestRecipients(t *testing.T) {
	w := newWorld(t)
	addr := w.start(w.config())
	c := dial(t, addr, "127.0.0.25")
	if err := c.Hello("mta25.sender.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("x@sender.test", nil); err != nil {
		t.Fatal(err)
	}
	wantReply(t, c.Rcpt("nobody@shop.test", nil), 550, "5.1.1", "user unknown")
	wantReply(t, c.Rcpt("someone@gmail.test", nil), 550, "5.7.1", "Relay not permitted")
	wantReply(t, c.Rcpt("someone@sub.notshop.test", nil), 550, "5.7.1", "Relay not permitted")
	if err := c.Rcpt("alice@shop.test", nil); err != nil {
		t.Fatalf("a known recipient: %v", err)
	}
	c.Reset()
	if len(w.queue.all()) != 0 {
		t.Fatal("something was queued")
	}
	// The answers are cached: the sink is asked once per address.
	probes := len(w.sink.Conns())
	c.Mail("x@sender.test", nil)
	wantReply(t, c.Rcpt("nobody@shop.test", nil), 550, "5.1.1", "")
	if len(w.sink.Conns()) != probes {
		t.Fatal("a cached callout probed again")
	}
	wantReply(t, c.Rcpt("nobody2@shop.test", nil), 550, "5.1.1", "")
	wantReply(t, c.Rcpt("nobody3@shop.test", nil), 421, "4.7.0", "")
	if b, _ := (&Bans{State: w.state, Now: w.clock.Now}).Get(context.Background(), netip.MustParseAddr("127.0.0.25")); b == nil {
		t.Fatal("a dictionary attack was not banned")
	}

	c2 := dial(t, addr, "127.0.0.26")
	c2.Hello("mta26.sender.test")
	if err := c2.Auth(plainAuth{}); err == nil || !strings.Contains(err.Error(), "421") {
		t.Fatalf("AUTH on the MX: %v, want 421", err)
	}
	if b, _ := (&Bans{State: w.state, Now: w.clock.Now}).Get(context.Background(), netip.MustParseAddr("127.0.0.26")); b == nil {
		t.Fatal("AUTH on the MX was not banned")
	}
}

// TestCalloutTempfail: a probe that cannot reach the host defers (451).
func TestCalloutTempfail(t *testing.T) {
	w := newWorld(t)
	cfg := w.config()
	w.sink.Close()
	addr := w.start(cfg)
	c := dial(t, addr, "127.0.0.27")
	c.Hello("mta27.sender.test")
	c.Mail("x@sender.test", nil)
	wantReply(t, c.Rcpt("alice@shop.test", nil), 451, "4.4.3", "")
}

// TestGreylistSuspicious: a client with no reverse name is greylisted
// (451 4.7.1); its retry after the delay from another address of its /24
// passes. A client with a forward-confirmed name is not greylisted.
func TestGreylistSuspicious(t *testing.T) {
	w := newWorld(t)
	addr := w.start(w.config())
	msg := message("x@sender.test", "alice@shop.test", "grey", "hi")
	err := send(t, addr, "127.0.0.41", "pool.sender.test", "x@sender.test", []string{"alice@shop.test"}, msg)
	wantReply(t, err, 451, "4.7.1", "Greylisted")
	err = send(t, addr, "127.0.0.42", "pool.sender.test", "x@sender.test", []string{"alice@shop.test"}, msg)
	wantReply(t, err, 451, "4.7.1", "Greylisted") // too soon
	w.clock.Add(6 * time.Minute)
	if err := send(t, addr, "127.0.0.43", "pool.sender.test", "x@sender.test", []string{"alice@shop.test"}, msg); err != nil {
		t.Fatalf("retry from another address of the /24: %v", err)
	}
	if err := send(t, addr, "127.0.0.28", "mta28.sender.test", "y@sender.test", []string{"bob@shop.test"},
		message("y@sender.test", "bob@shop.test", "fcrdns", "hi")); err != nil {
		t.Fatalf("a client with FCrDNS: %v", err)
	}
}

// TestContent: GTUBE is refused as spam (550 5.7.1), EICAR as a virus
// (554 5.7.1).
func TestContent(t *testing.T) {
	w := newWorld(t)
	addr := w.start(w.config())
	gtube := "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
	eicar := `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`
	err := send(t, addr, "127.0.0.29", "mta29.sender.test", "x@sender.test", []string{"alice@shop.test"},
		message("x@sender.test", "alice@shop.test", "gtube", gtube))
	wantReply(t, err, 550, "5.7.1", "spam")
	err = send(t, addr, "127.0.0.29", "mta29.sender.test", "x@sender.test", []string{"alice@shop.test"},
		message("x@sender.test", "alice@shop.test", "eicar", eicar))
	wantReply(t, err, 554, "5.7.1", "virus")
}

type plainAuth struct{}

func (plainAuth) Start() (string, []byte, error) { return "PLAIN", []byte("\x00u\x00p"), nil }
func (plainAuth) Next([]byte) ([]byte, error)    { return nil, nil }

// scoring is a scanner that gives every message a fixed score.
type scoring float64

func (s scoring) Scan(context.Context, *scan.Input) (scan.Result, map[string]error) {
	return scan.Result{Score: float64(s), Rules: []scan.Hit{{Scanner: "fake", Name: "SCORED", Score: float64(s)}}}, nil
}

// TestTagScore: content over tag_score is delivered with X-Spam-Flag: YES
// and X-Spam-Score; at reject_score it is refused.
func TestTagScore(t *testing.T) {
	for _, c := range []struct {
		score float64
		flag  bool
		code  int
	}{{2, false, 0}, {6, true, 0}, {11, false, 550}} {
		w := newWorld(t)
		cfg := w.config()
		cfg.Scanner = scoring(c.score)
		addr := w.start(cfg)
		err := send(t, addr, "127.0.0.29", "mta29.sender.test", "x@sender.test", []string{"alice@shop.test"},
			message("x@sender.test", "alice@shop.test", "scored", "hi"))
		if c.code != 0 {
			wantReply(t, err, c.code, "5.7.1", "spam")
			continue
		}
		if err != nil {
			t.Fatalf("score %v: %v", c.score, err)
		}
		body := string(w.queue.all()[0].Body)
		head, _, _ := strings.Cut(body, "\r\n\r\n")
		if has := strings.Contains(head, "X-Spam-Flag: YES\r\n"); has != c.flag ||
			c.flag && !strings.Contains(head, "X-Spam-Score: 6.00\r\n") {
			t.Fatalf("score %v: header\n%s", c.score, head)
		}
	}
}
