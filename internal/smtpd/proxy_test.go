package smtpd

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/proxyproto"
	"sendpool/internal/testclock"
)

// proxyEnv is a submission server taking PROXY v2 from 127.0.0.2 only,
// with account "hosted" whose network is 203.0.113.0/28, and AUTH allowed
// without TLS (the proxied clients are not on loopback).
func proxyEnv(t *testing.T) (*env, *syncBuffer) {
	t.Helper()
	nets, _ := account.ParseNetworks([]string{"203.0.113.0/28"})
	hosted := &account.Account{Name: "hosted", Domains: []string{"hosted.test"}, Networks: nets, Status: account.StatusActive}
	return trustEnv(t, nil, testclock.New(), func(c *Config) {
		c.ProxyProtocol = true
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
		c.AllowInsecureAuth = true
	}, hosted)
}

// dialProxied connects from local and sends raw (a PROXY header, or not)
// before anything else, as a load balancer does.
func dialProxied(t *testing.T, addr, local string, raw []byte) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	return &rawClient{t: t, conn: conn, tp: textproto.NewConn(conn)}
}

func proxied(client string) []byte {
	return proxyproto.Header{Command: proxyproto.Proxy, Source: netip.MustParseAddrPort(client),
		Destination: netip.MustParseAddrPort("192.0.2.1:587")}.Marshal()
}

// wantDropped wants the connection closed with nothing said, not even the
// greeting.
func wantDropped(t *testing.T, c *rawClient) {
	t.Helper()
	if line, err := c.tp.ReadLine(); !errors.Is(err, io.EOF) && !strings.Contains(errString(err), "reset") {
		t.Fatalf("read %q, %v; want the connection closed unanswered", line, err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestProxyProtocolClient: through the trusted proxy, the client the
// header names is the session's: inside the account's networks it relays
// without AUTH, and the Received header and the log name it.
func TestProxyProtocolClient(t *testing.T) {
	e, _ := proxyEnv(t)
	c := dialProxied(t, e.addr, "127.0.0.2", proxied("203.0.113.5:50000"))
	c.expect(220)
	c.must("EHLO shop.example", 250, "")
	c.must("MAIL FROM:<a@hosted.test>", 250, "")
	c.must("RCPT TO:<b@gmail.test>", 250, "")
	c.must("DATA", 354, "")
	id := queuedID(t, c.must("From: a@hosted.test\r\nSubject: hi\r\n\r\nhello\r\n.", 250, "2.0.0"))
	body := e.messages()[id]
	if !strings.HasPrefix(body, "Received: from shop.example ([203.0.113.5])") {
		t.Errorf("Received: %.80q; want the proxied client", body)
	}
	if !strings.Contains(e.logs.String(), "client_ip=203.0.113.5") {
		t.Errorf("log does not name the proxied client:\n%s", e.logs)
	}

	// A client outside the networks is not trusted because of the proxy.
	c2 := dialProxied(t, e.addr, "127.0.0.2", proxied("198.51.100.7:50000"))
	c2.expect(220)
	c2.must("EHLO x.example", 250, "")
	c2.must("MAIL FROM:<a@hosted.test>", 530, "5.7.0")

	// A LOCAL header (the proxy's health check) is the proxy itself.
	c3 := dialProxied(t, e.addr, "127.0.0.2", proxyproto.Header{Command: proxyproto.Local}.Marshal())
	c3.expect(220)
	c3.must("EHLO lb.example", 250, "")
	c3.must("QUIT", 221, "")
}

// TestProxyProtocolRefused: the same header from a peer outside
// trusted_proxies, a connection without a header, or with a malformed
// one, is closed before the greeting: nobody poses as a client inside an
// account's networks.
func TestProxyProtocolRefused(t *testing.T) {
	e, _ := proxyEnv(t)
	wantDropped(t, dialProxied(t, e.addr, "127.0.0.3", proxied("203.0.113.5:50000")))
	wantDropped(t, dialProxied(t, e.addr, "127.0.0.2", []byte("EHLO shop.example\r\n")))
	wantDropped(t, dialProxied(t, e.addr, "127.0.0.2", []byte("PROXY TCP4 203.0.113.5 192.0.2.1 50000 587\r\n")))
	bad := proxied("203.0.113.5:50000")
	bad[12] = 0x22 // an unassigned command
	wantDropped(t, dialProxied(t, e.addr, "127.0.0.2", bad))
	if got := e.messages(); len(got) != 0 {
		t.Errorf("%d messages stored", len(got))
	}
	// The server still serves the proxy afterwards.
	c := dialProxied(t, e.addr, "127.0.0.2", proxied("203.0.113.5:50000"))
	c.expect(220)
}

// TestProxyProtocolThrottle: the throttle counts the proxied client, not
// the proxy: one client's guesses lock it out and nobody else behind the
// same proxy.
func TestProxyProtocolThrottle(t *testing.T) {
	e, _ := proxyEnv(t)
	c := dialProxied(t, e.addr, "127.0.0.2", proxied("198.51.100.7:50000"))
	c.expect(220)
	c.must("EHLO x.example", 250, "")
	for range 10 {
		c.must("AUTH PLAIN "+plain("acme", "wrong"), 535, "5.7.8")
	}
	wantThrottled(t, c, "acme", "secret")
	c2 := dialProxied(t, e.addr, "127.0.0.2", proxied("198.51.100.8:50000"))
	c2.expect(220)
	c2.must("EHLO y.example", 250, "")
	c2.must("AUTH PLAIN "+plain("acme", "secret"), 235, "2.0.0")
}
