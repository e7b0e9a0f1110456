package deliver

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"

	"sendpool/internal/dns"
	"sendpool/internal/pool"
	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// noSessions is a session cache that keeps nothing: every connection
// pays a full handshake, as before resumption.
type noSessions struct{}

func (noSessions) Get(string) (*tls.ClientSessionState, bool) { return nil, false }
func (noSessions) Put(string, *tls.ClientSessionState)        {}

// BenchmarkTLSConnection delivers one message per connection to a sink
// offering STARTTLS (TLS 1.3, ECDSA P-256), with and without resumption:
// what a new connection costs the sender.
func BenchmarkTLSConnection(b *testing.B) {
	ca, err := sandbox.NewCA("bench CA")
	if err != nil {
		b.Fatal(err)
	}
	cert, err := ca.Issue("mx.gmail.test")
	if err != nil {
		b.Fatal(err)
	}
	s, err := sandbox.NewSink(sandbox.SinkConfig{Addr: "127.0.0.101:0", Hostname: "mx.gmail.test", TLS: sandbox.ServerTLS(cert), Discard: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	_, p, _ := net.SplitHostPort(s.Addr())
	port, _ := strconv.Atoi(p)
	res := &fakeResolver{mx: map[string][]dns.MX{"gmail.test": {{Host: "mx.gmail.test", Pref: 10}}},
		ip: map[string][]netip.Addr{"mx.gmail.test": {netip.MustParseAddr("127.0.0.101")}}}
	bodies := newBodies()
	bodies.put("m", []byte("Subject: x\r\n\r\nhello\r\n"))
	for _, bc := range []struct {
		name           string
		resume, verify bool
	}{{"may/full", false, false}, {"may/resumed", true, false}, {"mta-sts/full", false, true}, {"mta-sts/resumed", true, true}} {
		resume := bc.resume
		b.Run(bc.name, func(b *testing.B) {
			c := New(Config{Resolver: res, Store: bodies, Port: port, MessagesPerConnection: 1,
				Pool:            pool.New(pool.Config{IPs: []pool.IP{{Addr: netip.MustParseAddr("127.0.0.2")}}}),
				AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, RootCAs: ca.Pool()})
			if bc.verify {
				c.cfg.TLS = fixedPlans{"mx.gmail.test": enforced}
			}
			if !resume {
				c.sessions = noSessions{}
			}
			l := &queue.Lease{Delivery: queue.Delivery{ID: "m/0", MessageID: "m", Recipient: "a@gmail.test", Domain: "gmail.test"},
				From: "s@sender.test"}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			b.ResetTimer()
			before := cpuTime()
			for range b.N {
				if r := c.Deliver(ctx, []*queue.Lease{l}); r[0].Verdict != queue.VerdictDelivered {
					b.Fatalf("%+v", r[0])
				}
			}
			// CPU of the process, sink included (its side of the
			// handshake shrinks with resumption too), per delivery.
			b.ReportMetric(float64((cpuTime()-before).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
