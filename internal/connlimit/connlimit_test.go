package connlimit

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := New(5, 2)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	r1, err := l.Acquire(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(a); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(a); !errors.Is(err, ErrPerIP) {
		t.Fatalf("third from one IP: %v, want ErrPerIP", err)
	}
	r1()
	r1() // twice is harmless
	if total, mine := l.Open(a); total != 1 || mine != 1 {
		t.Fatalf("open after a release: %d total, %d from a; want 1, 1", total, mine)
	}
	if _, err := l.Acquire(a); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := l.Acquire(b); err != nil && !errors.Is(err, ErrPerIP) {
			t.Fatal(err)
		}
	}
	if _, err := l.Acquire(netip.MustParseAddr("192.0.2.3")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(netip.MustParseAddr("192.0.2.4")); !errors.Is(err, ErrTotal) {
		t.Fatalf("sixth in all: %v, want ErrTotal", err)
	}
}

// TestIPv6Prefix: an IPv6 client is counted by its /64, so that taking a
// new address per connection does not escape the cap.
func TestIPv6Prefix(t *testing.T) {
	l := New(0, 2)
	for _, s := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if _, err := l.Acquire(netip.MustParseAddr(s)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Acquire(netip.MustParseAddr("2001:db8:1:2::77")); !errors.Is(err, ErrPerIP) {
		t.Errorf("third from one /64: %v, want ErrPerIP", err)
	}
	if _, err := l.Acquire(netip.MustParseAddr("2001:db8:1:3::1")); err != nil {
		t.Errorf("another /64: %v", err)
	}
	if _, err := l.Acquire(netip.MustParseAddr("::ffff:192.0.2.1")); err != nil {
		t.Errorf("a mapped IPv4 address: %v", err)
	}
}

// TestListener: past max, Accept waits until a connection is closed;
// Close ends a waiting Accept.
func TestListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, 1)
	defer l.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first := <-accepted
	select {
	case <-accepted:
		t.Fatal("a second connection accepted past max")
	case <-time.After(100 * time.Millisecond):
	}
	first.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted after one closed")
	}
	l.Close()
	if _, ok := <-accepted; ok {
		t.Error("Accept went on after Close")
	}
}
