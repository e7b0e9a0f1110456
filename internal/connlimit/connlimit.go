// Package connlimit caps the connections a listener holds open: in all,
// and from one client (an IPv4 address, an IPv6 client's /64, as
// internal/authguard counts them). Without a cap, one host opening
// connections and saying nothing holds a goroutine and a file descriptor
// for each until its timeouts, and a few thousand exhaust the process's
// descriptors for everyone (issue 13: 400 connections from one IP all got
// their greeting).
//
// The counts are this process's: a cap is per node, as each node has its
// own descriptors to protect.
package connlimit

import (
	"errors"
	"net"
	"net/netip"
	"sync"
)

// Errors of Acquire.
var (
	ErrTotal = errors.New("connlimit: too many connections")
	ErrPerIP = errors.New("connlimit: too many connections from one client")
)

// Limiter counts open connections. Safe for concurrent use.
type Limiter struct {
	max, perIP int

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int // by Key; only clients with open connections
}

// New returns a Limiter allowing max connections in all and perIP from
// one client; 0 leaves that count uncapped.
func New(max, perIP int) *Limiter {
	return &Limiter{max: max, perIP: perIP, byIP: map[netip.Addr]int{}}
}

// Key is what one client's connections are counted under: the address
// itself for IPv4, its /64 for IPv6 (one subscriber's usual allocation,
// RFC 6177), so that an address per connection does not escape the cap.
func Key(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// Acquire takes a slot for a connection from client, or says which cap
// refuses it (ErrTotal, ErrPerIP). release gives the slot back; calling
// it more than once is harmless. An invalid client (not TCP) is counted
// in the total only.
func (l *Limiter) Acquire(client netip.Addr) (release func(), err error) {
	key := Key(client)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return nil, ErrTotal
	}
	if l.perIP > 0 && key.IsValid() && l.byIP[key] >= l.perIP {
		return nil, ErrPerIP
	}
	l.total++
	if key.IsValid() {
		l.byIP[key]++
	}
	var once sync.Once
	return func() { once.Do(func() { l.release(key) }) }, nil
}

func (l *Limiter) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if !key.IsValid() {
		return
	}
	if n := l.byIP[key] - 1; n > 0 {
		l.byIP[key] = n
	} else {
		delete(l.byIP, key) // keep the map as small as the open clients
	}
}

// Open returns how many connections are open, in all and from client.
func (l *Limiter) Open(client netip.Addr) (total, fromClient int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.byIP[Key(client)]
}

// AddrOf returns the IP of a connection's address, invalid if it has none.
func AddrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// Listener caps the connections open on an inner listener at max: past
// it Accept waits until one of them is closed, and new clients wait in
// the kernel's accept queue. It suits HTTP, whose server has no way to
// answer "busy" before reading a request (net/http does not cap
// connections itself).
type Listener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once
}

// NewListener wraps inner; max must be positive.
func NewListener(inner net.Listener, max int) *Listener {
	return &Listener{Listener: inner, slots: make(chan struct{}, max), done: make(chan struct{})}
}

// Accept waits for a free slot, then for a connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &slotConn{Conn: c, free: func() { <-l.slots }}, nil
}

// Close stops Accept, also one waiting for a slot.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// slotConn gives its slot back once, when first closed.
type slotConn struct {
	net.Conn
	once sync.Once
	free func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.free)
	return err
}
