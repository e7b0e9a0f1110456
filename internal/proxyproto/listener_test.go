package proxyproto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listen is a Listener on 127.0.0.1 that trusts 127.0.0.2 only.
func listen(t *testing.T, timeout time.Duration) (*Listener, *syncBuffer) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	l := NewListener(inner, Config{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, Timeout: timeout,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	t.Cleanup(func() { l.Close() })
	return l, logs
}

// dialFrom connects to l from the loopback address local.
func dialFrom(t *testing.T, l net.Listener, local string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// accept returns the next accepted connection, or nil after a while.
func accept(l net.Listener, wait time.Duration) net.Conn {
	got := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			c = nil
		}
		got <- c
	}()
	select {
	case c := <-got:
		return c
	case <-time.After(wait):
		return nil
	}
}

// wantClosed wants c closed by the other end, nothing written to it.
func wantClosed(t *testing.T, c net.Conn) {
	t.Helper()
	if b, err := io.ReadAll(c); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") || len(b) != 0 {
		t.Fatalf("read %q, %v; want the connection closed", b, err)
	}
}

// TestListenerTrustedPeer: the client the header names is the connection's
// RemoteAddr, and its data after the header arrives intact, both ways.
func TestListenerTrustedPeer(t *testing.T) {
	l, _ := listen(t, 5*time.Second)
	c := dialFrom(t, l, "127.0.0.2")
	h := Header{Proxy, netip.MustParseAddrPort("203.0.113.7:50000"), netip.MustParseAddrPort("192.0.2.1:587")}
	c.Write(append(h.Marshal(), "EHLO client\r\n"...))
	sc := accept(l, 5*time.Second)
	if sc == nil {
		t.Fatal("nothing accepted")
	}
	defer sc.Close()
	if got := sc.RemoteAddr().String(); got != "203.0.113.7:50000" {
		t.Errorf("RemoteAddr %s, want the header's client", got)
	}
	if got := sc.LocalAddr().String(); got != "192.0.2.1:587" {
		t.Errorf("LocalAddr %s, want the header's destination", got)
	}
	pc := sc.(*Conn)
	if got := pc.Peer().(*net.TCPAddr).IP.String(); got != "127.0.0.2" {
		t.Errorf("Peer %s, want the proxy", got)
	}
	line, err := bufio.NewReader(sc).ReadString('\n')
	if err != nil || line != "EHLO client\r\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	sc.Write([]byte("250 ok\r\n"))
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "250 ok\r\n" {
		t.Fatalf("client read %q, %v", line, err)
	}

	// A LOCAL command (the proxy's health check) is the proxy itself.
	c2 := dialFrom(t, l, "127.0.0.2")
	c2.Write(Header{Command: Local}.Marshal())
	sc2 := accept(l, 5*time.Second)
	if sc2 == nil {
		t.Fatal("LOCAL connection not accepted")
	}
	defer sc2.Close()
	if got := sc2.RemoteAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.2" {
		t.Errorf("LOCAL: RemoteAddr %s, want the proxy's own", got)
	}
}

// TestListenerRefuses: a peer outside the trusted list is closed unread,
// even with a well-formed header; a malformed, partial or late header
// closes the connection; none of them is accepted, and a good connection
// after them is.
func TestListenerRefuses(t *testing.T) {
	l, logs := listen(t, 300*time.Millisecond)
	good := Header{Proxy, netip.MustParseAddrPort("203.0.113.7:50000"), netip.MustParseAddrPort("192.0.2.1:587")}.Marshal()

	untrusted := dialFrom(t, l, "127.0.0.3")
	untrusted.Write(good)
	wantClosed(t, untrusted)

	v1 := dialFrom(t, l, "127.0.0.2")
	v1.Write([]byte("PROXY TCP4 203.0.113.7 192.0.2.1 50000 587\r\n"))
	wantClosed(t, v1)

	partial := dialFrom(t, l, "127.0.0.2")
	partial.Write(good[:20]) // then silence: closed at the timeout
	wantClosed(t, partial)

	bare := dialFrom(t, l, "127.0.0.2")
	bare.Write([]byte("EHLO client\r\n"))
	wantClosed(t, bare)

	ok := dialFrom(t, l, "127.0.0.2")
	ok.Write(good)
	sc := accept(l, 5*time.Second)
	if sc == nil || sc.RemoteAddr().String() != "203.0.113.7:50000" {
		t.Fatalf("accepted %v, want only the good connection", sc)
	}
	sc.Close()
	if out := logs.String(); !strings.Contains(out, "peer outside auth.trusted_proxies") || strings.Count(out, "bad PROXY v2 header") != 3 {
		t.Errorf("log:\n%s", out)
	}
}

// TestListenerClose: Close ends Accept and closes the connections whose
// header has not come.
func TestListenerClose(t *testing.T) {
	l, _ := listen(t, 0)
	waiting := dialFrom(t, l, "127.0.0.2") // sends nothing
	errc := make(chan error, 1)
	go func() { _, err := l.Accept(); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	l.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
	wantClosed(t, waiting)
}
