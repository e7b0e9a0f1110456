package proxyproto

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Config is what a Listener needs.
type Config struct {
	// Trusted are the peers (load balancers) whose header is believed. A
	// connection from any other peer is closed at once, unread: with the
	// protocol on, a client reaching the port directly could otherwise
	// name any address as its own.
	Trusted []netip.Prefix
	// Timeout bounds the wait for the header (0: none). A proxy sends it
	// with the connection (§2.2: "the sender must ensure that all the
	// protocol header is sent at once").
	Timeout time.Duration
	Logger  *slog.Logger // nil: discard
}

// Listener accepts connections that start with a v2 header from a trusted
// peer, and returns them (as *Conn) with the client the header names as
// their RemoteAddr. Headers are read in a goroutine per connection, so a
// slow peer delays nobody else, and Accept returns only connections whose
// client is known: whatever looks at the address on accepting (limits,
// logs) sees the client's, never the proxy's.
type Listener struct {
	inner net.Listener
	cfg   Config
	log   *slog.Logger

	ready   chan net.Conn // connections with their header read
	errs    chan error    // errors of the inner Accept
	done    chan struct{} // closed by Close
	closing sync.Once

	mu      sync.Mutex
	pending map[net.Conn]struct{} // connections whose header is being read
}

// NewListener wraps inner; it starts accepting at once.
func NewListener(inner net.Listener, cfg Config) *Listener {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Listener{inner: inner, cfg: cfg, log: cfg.Logger, ready: make(chan net.Conn), errs: make(chan error),
		done: make(chan struct{}), pending: map[net.Conn]struct{}{}}
	go l.acceptLoop()
	return l
}

// Accept returns the next connection whose header was read, or the inner
// listener's error.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and closes the connections whose header is still
// being read; those already accepted are their owner's.
func (l *Listener) Close() error {
	err := net.ErrClosed
	l.closing.Do(func() {
		close(l.done)
		err = l.inner.Close()
		l.mu.Lock()
		for c := range l.pending {
			c.Close()
		}
		l.mu.Unlock()
	})
	return err
}

// Addr is the inner listener's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

func (l *Listener) acceptLoop() {
	for {
		c, err := l.inner.Accept()
		if err != nil {
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			// A temporary error (out of file descriptors) passes; the
			// caller backs off and accepts again. Any other ends it.
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				continue
			}
			return
		}
		peer := addrOf(c.RemoteAddr())
		if !l.trusted(peer) {
			l.log.Warn("proxy protocol: connection from a peer outside auth.trusted_proxies closed", "peer", peer.String())
			c.Close()
			continue
		}
		if !l.track(c) {
			return
		}
		go l.handshake(c, peer)
	}
}

// handshake reads c's header and hands c to Accept.
func (l *Listener) handshake(c net.Conn, peer netip.Addr) {
	defer l.untrack(c)
	if l.cfg.Timeout > 0 {
		c.SetReadDeadline(time.Now().Add(l.cfg.Timeout))
	}
	h, err := Read(c)
	if err != nil {
		l.log.Warn("proxy protocol: connection closed", "peer", peer.String(), "err", err)
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	pc := &Conn{Conn: c, header: h}
	select {
	case l.ready <- pc:
	case <-l.done:
		c.Close()
	}
}

func (l *Listener) trusted(peer netip.Addr) bool {
	for _, p := range l.cfg.Trusted {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

// track records c as pending, unless the listener is closed.
func (l *Listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.done:
		c.Close()
		return false
	default:
	}
	l.pending[c] = struct{}{}
	return true
}

func (l *Listener) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.pending, c)
	l.mu.Unlock()
}

// Conn is a connection accepted through a Listener.
type Conn struct {
	net.Conn
	header Header
}

// RemoteAddr is the client the header names; the proxy's own address for a
// Local command (its health checks).
func (c *Conn) RemoteAddr() net.Addr {
	if c.header.Command == Proxy {
		return net.TCPAddrFromAddrPort(c.header.Source)
	}
	return c.Conn.RemoteAddr()
}

// LocalAddr is the address the client connected to, as the header says.
func (c *Conn) LocalAddr() net.Addr {
	if c.header.Command == Proxy {
		return net.TCPAddrFromAddrPort(c.header.Destination)
	}
	return c.Conn.LocalAddr()
}

// Peer is the proxy's address: the connection's real other end.
func (c *Conn) Peer() net.Addr { return c.Conn.RemoteAddr() }

// Header is the header the connection began with.
func (c *Conn) Header() Header { return c.header }

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
