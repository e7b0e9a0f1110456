package deliver

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"sendpool/internal/dns"
	"sendpool/internal/pool"
	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
)

func TestDeliverFromPickedIP(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	leases := w.message("m1", "Subject: t\r\n\r\n.dot line\nbare lf\r\nend", "a@gmail.test", "b@gmail.test")
	// Every IP but 127.0.0.5 was tried: the pool must pick it.
	for _, l := range leases {
		l.TriedIPs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	}
	var logs bytes.Buffer
	res := deliver(t, w.courier(func(c *Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) }), leases)
	wantVerdict(t, res, queue.VerdictDelivered, queue.VerdictDelivered)
	for _, want := range []string{`"message_id":"m1"`, `"recipient_domain":"gmail.test"`, `"source_ip":"127.0.0.5"`, `"mx":"mx.gmail.test"`, `"reply":"250 2.0.0 Ok`, `"duration":`} {
		if strings.Count(logs.String(), want) != 2 {
			t.Errorf("log lacks %s on each of 2 lines:\n%s", want, logs.String())
		}
	}

	for _, r := range res {
		a := r.Attempt
		if a.SourceIP != "127.0.0.5" || a.MX != "mx.gmail.test" || a.MXAddr != s.Addr() ||
			!strings.HasPrefix(a.Response, "250 2.0.0 Ok") || a.Time.IsZero() || a.Category != "delivered" {
			t.Errorf("attempt %+v", a)
		}
	}
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages at the sink, want 1 (one transaction, two RCPTs)", len(msgs))
	}
	m := msgs[0]
	if m.SourceIP != "127.0.0.5" || m.EHLO != "mta5.sender.test" {
		t.Errorf("sink saw %s as %s, want 127.0.0.5 as mta5.sender.test", m.SourceIP, m.EHLO)
	}
	if m.From != "sender@sender.test" || strings.Join(m.To, " ") != "a@gmail.test b@gmail.test" {
		t.Errorf("envelope %q -> %q", m.From, m.To)
	}
	// Dot-stuffing undone by the sink; bare LF and the missing final line
	// end made CRLF.
	if want := "Subject: t\r\n\r\n.dot line\r\nbare lf\r\nend\r\n"; string(m.Data) != want {
		t.Errorf("data %q, want %q", m.Data, want)
	}
}

func TestDeliverSharesConnection(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	m1 := w.message("m1", "one\r\n", "a@gmail.test")
	m2 := w.message("m2", "two\r\n", "b@gmail.test")

	res := deliver(t, w.courier(nil), m1, m2)
	wantVerdict(t, res, queue.VerdictDelivered, queue.VerdictDelivered)
	if n, m := len(s.Conns()), len(s.Messages()); n != 1 || m != 2 {
		t.Errorf("%d connections and %d messages, want 1 and 2", n, m)
	}

	s.Reset()
	res = deliver(t, w.courier(func(c *Config) { c.MessagesPerConnection = 1 }), m1, m2)
	wantVerdict(t, res, queue.VerdictDelivered, queue.VerdictDelivered)
	if n, m := len(s.Conns()), len(s.Messages()); n != 2 || m != 2 {
		t.Errorf("one message per connection: %d connections and %d messages, want 2 and 2", n, m)
	}
}

func TestDeliverRcptRefusedForThatRecipientOnly(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			w := newWorld(t)
			s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
			w.mx("gmail.test", "mx.gmail.test")
			rules := []sandbox.Rule{{Stage: sandbox.StageRcpt, Rcpt: "nobody@gmail.test", Reply: "550 5.1.1 The email account that you tried to reach does not exist"}}
			if !pipelining {
				rules = append(rules, sandbox.Rule{Stage: sandbox.StageEHLO, Reply: "250-mx.gmail.test\n250 ENHANCEDSTATUSCODES"})
			}
			s.SetRules(rules...)

			res := deliver(t, w.courier(nil), w.message("m1", "x\r\n", "a@gmail.test", "nobody@gmail.test", "b@gmail.test"))
			wantVerdict(t, res, queue.VerdictDelivered, queue.VerdictPermanent, queue.VerdictDelivered)
			if got := res[1].Attempt.Response; got != "550 5.1.1 The email account that you tried to reach does not exist" {
				t.Errorf("response %q", got)
			}
			if m := s.Messages(); len(m) != 1 || strings.Join(m[0].To, " ") != "a@gmail.test b@gmail.test" {
				t.Errorf("messages %+v", m)
			}
		})
	}
}

func TestDeliverTemporaryReplyDefers(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	s.SetRules(sandbox.Rule{Stage: sandbox.StageEOD, Rcpt: "a@gmail.test", Times: 1, Reply: "451 4.3.0 Temporary local problem"})

	m1 := w.message("m1", "x\r\n", "a@gmail.test")
	m2 := w.message("m2", "y\r\n", "b@gmail.test")
	res := deliver(t, w.courier(nil), m1, m2)
	// The failed transaction does not stop the next one on the connection.
	wantVerdict(t, res, queue.VerdictDeferred, queue.VerdictDelivered)
	if r := res[0].Attempt; r.Response != "451 4.3.0 Temporary local problem" || r.Category != "temporary" {
		t.Errorf("attempt %+v", r)
	}
	if n := len(s.Conns()); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestDeliverGreetingRefusalFailsTheConnection(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	s.SetRules(sandbox.Rule{Stage: sandbox.StageGreeting, Reply: "554-5.7.1 Service unavailable\n554 5.7.1 Go away"})

	res := deliver(t, w.courier(nil), w.message("m1", "x\r\n", "a@gmail.test", "b@gmail.test"), w.message("m2", "y\r\n", "c@gmail.test"))
	wantVerdict(t, res, queue.VerdictPermanent, queue.VerdictPermanent, queue.VerdictPermanent)
	for _, r := range res {
		if r.Attempt.Response != "554 5.7.1 Service unavailable Go away" || r.Attempt.MXAddr != s.Addr() {
			t.Errorf("attempt %+v", r.Attempt)
		}
	}
	if n, m := len(s.Conns()), len(s.Messages()); n != 1 || m != 0 {
		t.Errorf("%d connections and %d messages, want 1 and 0", n, m)
	}
}

func TestDeliverMailRefusalFailsTheConnection(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	s.SetRules(sandbox.Rule{Stage: sandbox.StageMail, Reply: "550 5.7.1 Sender rejected"})

	res := deliver(t, w.courier(nil), w.message("m1", "x\r\n", "a@gmail.test"), w.message("m2", "y\r\n", "b@gmail.test"))
	wantVerdict(t, res, queue.VerdictPermanent, queue.VerdictPermanent)
	if n := s.Conns(); len(n) != 1 {
		t.Errorf("%d connections, want 1", len(n))
	}
}

func TestDeliverSecondMXWhenFirstIsDown(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx2.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.host("mx1.gmail.test", "127.0.0.102") // nothing listens there
	w.mx("gmail.test", "mx1.gmail.test", "mx2.gmail.test")

	res := deliver(t, w.courier(nil), w.message("m1", "x\r\n", "a@gmail.test"))
	wantVerdict(t, res, queue.VerdictDelivered)
	if a := res[0].Attempt; a.MX != "mx2.gmail.test" || a.MXAddr != s.Addr() {
		t.Errorf("attempt %+v", a)
	}
	if len(s.Messages()) != 1 {
		t.Error("second MX got no message")
	}
}

func TestDeliverAllMXDownDefers(t *testing.T) {
	w := newWorld(t)
	w.sink("unused.test", "127.0.0.101", sandbox.SinkConfig{}) // fixes the port
	w.host("mx1.gmail.test", "127.0.0.102")
	w.host("mx2.gmail.test", "127.0.0.103")
	w.mx("gmail.test", "mx1.gmail.test", "mx2.gmail.test")

	res := deliver(t, w.courier(nil), w.message("m1", "x\r\n", "a@gmail.test"))
	wantVerdict(t, res, queue.VerdictDeferred)
	if a := res[0].Attempt; a.MX != "mx2.gmail.test" || !strings.Contains(a.Response, "refused") || a.SourceIP == "" {
		t.Errorf("attempt %+v", a)
	}
}

func TestDeliverLoopbackRefusedByPolicy(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")

	res := deliver(t, w.courier(func(c *Config) { c.AllowedNetworks = nil }), w.message("m1", "x\r\n", "a@gmail.test"))
	wantVerdict(t, res, queue.VerdictPermanent)
	if a := res[0].Attempt; a.Category != "policy" || !strings.Contains(a.Response, "destination address not allowed") {
		t.Errorf("attempt %+v", a)
	}
	if n := len(s.Conns()); n != 0 {
		t.Errorf("%d connections to a refused address", n)
	}
}

func TestDeliverDNSFailures(t *testing.T) {
	w := newWorld(t)
	w.res.errs["servfail.test"] = &dns.Error{Name: "servfail.test", Msg: "SERVFAIL"}
	w.res.errs["null.test"] = dns.ErrNullMX
	c := w.courier(nil)
	for dom, want := range map[string]queue.Verdict{
		"nxdomain.test": queue.VerdictPermanent,
		"null.test":     queue.VerdictPermanent,
		"servfail.test": queue.VerdictDeferred,
	} {
		res := deliver(t, c, w.message("m-"+dom, "x\r\n", "a@"+dom))
		wantVerdict(t, res, want)
		if res[0].Attempt.Category != "dns" {
			t.Errorf("%s: category %q", dom, res[0].Attempt.Category)
		}
	}
}

func TestDeliverUsesSTARTTLS(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{TLS: testTLS(t, 0)})
	w.mx("gmail.test", "mx.gmail.test")

	res := deliver(t, w.courier(nil), w.message("m1", "x\r\n", "a@gmail.test"))
	wantVerdict(t, res, queue.VerdictDelivered)
	if cs := s.Conns(); len(cs) != 1 || !cs[0].TLS || cs[0].EHLO == "" {
		t.Errorf("conns %+v, want one with TLS and EHLO again after it", cs)
	}
	if m := s.Messages(); len(m) != 1 || !m[0].TLS {
		t.Errorf("messages %+v", m)
	}
}

func TestDeliverFailedTLSFallsBackToPlaintext(t *testing.T) {
	w := newWorld(t)
	// The sink offers STARTTLS but speaks only TLS 1.1, under our minimum.
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{TLS: testTLS(t, tls.VersionTLS11)})
	w.mx("gmail.test", "mx.gmail.test")

	res := deliver(t, w.courier(nil), w.message("m1", "x\r\n", "a@gmail.test"))
	wantVerdict(t, res, queue.VerdictDelivered)
	if r := res[0].Attempt.Response; !strings.Contains(r, "TLS failed") || !strings.Contains(r, "plaintext") {
		t.Errorf("response %q does not record the fallback", r)
	}
	if cs := s.Conns(); len(cs) != 2 || cs[1].TLS {
		t.Errorf("conns %+v, want a failed TLS one then a plaintext one", cs)
	}
	if m := s.Messages(); len(m) != 1 || m[0].TLS {
		t.Errorf("messages %+v", m)
	}
}

func TestDeliverHELOWhenEHLORefused(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	s.SetRules(sandbox.Rule{Stage: sandbox.StageEHLO, Times: 1, Reply: "502 5.5.2 Command not recognized"})

	res := deliver(t, w.courier(nil), w.message("m1", "x\r\n", "a@gmail.test"))
	wantVerdict(t, res, queue.VerdictDelivered)
	if m := s.Messages(); len(m) != 1 || m[0].EHLO != "mta"+res[0].Attempt.SourceIP[len("127.0.0."):]+".sender.test" {
		t.Errorf("messages %+v, source %s", m, res[0].Attempt.SourceIP)
	}
}

func TestDeliverDropMidDataDefers(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	s.SetRules(sandbox.Rule{Stage: sandbox.StageData, Rcpt: "a@gmail.test", Drop: true})

	m1 := w.message("m1", strings.Repeat("a line of the body\r\n", 100), "a@gmail.test")
	m2 := w.message("m2", "y\r\n", "b@gmail.test")
	res := deliver(t, w.courier(nil), m1, m2)
	// The broken connection costs m1 its attempt; m2 goes on a new one.
	wantVerdict(t, res, queue.VerdictDeferred, queue.VerdictDelivered)
	if a := res[0].Attempt; a.Category != "network" || a.MXAddr != s.Addr() {
		t.Errorf("attempt %+v", a)
	}
	if n, m := len(s.Conns()), len(s.Messages()); n != 2 || m != 1 {
		t.Errorf("%d connections and %d messages, want 2 and 1", n, m)
	}
}

// blockClassifier says blocked-ip for Spamhaus listings, else the basics.
type blockClassifier struct{}

func (blockClassifier) Classify(stage, mx, reply string) queue.Classification {
	if strings.Contains(reply, "spamhaus") {
		return queue.Classification{Verdict: queue.VerdictBlockedIP, Scope: "pool", Category: "blacklist", Rule: "spamhaus"}
	}
	return basicClassifier{}.Classify(stage, mx, reply)
}

func TestDeliverBlockedIPStopsTheGroup(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	s.SetRules(sandbox.Rule{Stage: sandbox.StageRcpt, Reply: "550 5.7.1 Client host blocked using zen.spamhaus.test"})

	c := w.courier(func(c *Config) { c.Classifier = blockClassifier{}; c.MessagesPerConnection = 1 })
	res := deliver(t, c, w.message("m1", "x\r\n", "a@gmail.test", "b@gmail.test"), w.message("m2", "y\r\n", "c@gmail.test"))
	wantVerdict(t, res, queue.VerdictBlockedIP, queue.VerdictBlockedIP, queue.VerdictBlockedIP)
	for _, r := range res {
		if r.Scope != "pool" || r.Attempt.SourceIP != res[0].Attempt.SourceIP || !strings.Contains(r.Attempt.Response, "spamhaus") {
			t.Errorf("result %+v", r)
		}
	}
	if n := len(s.Conns()); n != 1 {
		t.Errorf("%d connections, want 1: a blocked IP must not reconnect", n)
	}
}

func TestDeliverNoUsableIPDefers(t *testing.T) {
	w := newWorld(t)
	w.mx("gmail.test", "mx.gmail.test")
	w.host("mx.gmail.test", "127.0.0.101")
	c := w.courier(func(c *Config) { c.Pool = pool.New(pool.Config{IPs: w.ips, Health: noHealth{}}) })
	res := deliver(t, c, w.message("m1", "x\r\n", "a@gmail.test"))
	wantVerdict(t, res, queue.VerdictDeferred)
	if res[0].Attempt.Category != "pool" {
		t.Errorf("attempt %+v", res[0].Attempt)
	}
}

type noHealth struct{}

func (noHealth) Usable(netip.Addr, string) bool { return false }

func TestDeliverRespectsContextDeadline(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	// A receiver far slower than the caller: the caller gives up while the
	// first message waits for its final reply.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.SetHandler(func(ev sandbox.Event) *sandbox.Reply {
		if ev.Stage == sandbox.StageEOD {
			cancel()
			return &sandbox.Reply{Delay: time.Minute}
		}
		return nil
	})
	leases := slices.Concat(w.message("m1", "x\r\n", "a@gmail.test"), w.message("m2", "y\r\n", "b@gmail.test"))
	res := w.courier(nil).Deliver(ctx, leases)
	wantVerdict(t, res, queue.VerdictDeferred, queue.VerdictDeferred)
	if a := res[0].Attempt; a.Time.IsZero() || a.MXAddr != s.Addr() {
		t.Errorf("first attempt %+v", a)
	}
	if a := res[1].Attempt; !a.Time.IsZero() {
		t.Errorf("second lease was never tried, yet its attempt has a time: %+v", a)
	}
}
