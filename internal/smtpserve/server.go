// Package smtpserve is the listening side that sendpool's SMTP servers
// share (submission in internal/smtpd, the MX in internal/inbound): a
// github.com/emersion/go-smtp server whose connections are tracked (so
// Close and Shutdown can end them), capped (internal/connlimit), metered
// (junk commands, errors), optionally behind the PROXY protocol, with
// replies cleaned of control characters. Each server brings its own
// sessions (a go-smtp Backend) and may look at a connection before the
// banner (Config.Greet).
package smtpserve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"sendpool/internal/connlimit"
	"sendpool/internal/proxyproto"
)

// Defaults of Config.
const (
	defaultMaxMessageSize = 25 << 20 // SPEC §2 max_message_size
	defaultMaxRecipients  = 100      // SPEC §2 max_recipients
	// RFC 5321 §4.5.3.2.7: a server should wait at least 5 minutes for
	// the next command.
	defaultReadTimeout  = 5 * time.Minute
	defaultWriteTimeout = time.Minute
)

// Config is what a Server needs.
type Config struct {
	// Backend makes the sessions (go-smtp calls it at EHLO/HELO).
	Backend  smtp.Backend
	Hostname string      // banner
	TLS      *tls.Config // nil: no STARTTLS
	// Key names the server's config section in logs ("submission",
	// "inbound"); default "smtp".
	Key            string
	MaxMessageSize int64 // 0: 25 MB
	MaxRecipients  int   // 0: 100
	Logger         *slog.Logger
	ReadTimeout    time.Duration // 0: 5 minutes
	WriteTimeout   time.Duration // 0: 1 minute
	// ProxyProtocol: each connection starts with a PROXY protocol v2
	// header (internal/proxyproto) from one of TrustedProxies, and the
	// client it names is the session's client. Any other peer is
	// disconnected unread.
	ProxyProtocol  bool
	TrustedProxies []netip.Prefix
	// Greet, if set, is called in the connection's own goroutine just
	// before the banner is written, and may hold it (a greet pause) or
	// refuse the connection: it returns false after writing its own reply,
	// and the connection is closed without the banner.
	Greet func(c *Conn) bool
	// OnCap, if set, is told of each session a bound ended (key names the
	// bound, e.g. "inbound.max_errors").
	OnCap func(c *Conn, key string)

	Bounds // bounds.go: connection caps, login timeout, junk, header size
}

// Server is an SMTP server on go-smtp.
type Server struct {
	cfg  Config
	log  *slog.Logger
	smtp *smtp.Server

	ctx    context.Context // for the sessions' calls; cancelled by Close
	cancel context.CancelFunc

	mu        sync.Mutex
	conns     map[*Conn]struct{} // open connections, to force them shut
	listeners []net.Listener     // closed by Close and Shutdown
	closed    bool               // Close or Shutdown has begun

	limiter *connlimit.Limiter // Bounds.MaxConnections, MaxConnectionsPerIP
	refused refusalLog         // bounds.go
}

// New returns a Server; it listens once Serve or ListenAndServe is called.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("smtpserve: no backend")
	}
	if cfg.Hostname == "" {
		return nil, errors.New("smtpserve: no hostname")
	}
	if cfg.ProxyProtocol && len(cfg.TrustedProxies) == 0 {
		return nil, errors.New("smtpserve: PROXY protocol with no trusted proxies would refuse every connection")
	}
	if cfg.Key == "" {
		cfg.Key = "smtp"
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = defaultMaxMessageSize
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = defaultMaxRecipients
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = defaultReadTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = defaultWriteTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, conns: map[*Conn]struct{}{}, refused: refusalLog{key: cfg.Key},
		limiter: connlimit.New(cfg.MaxConnections, cfg.MaxConnectionsPerIP)}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	be := smtp.NewServer(cfg.Backend)
	be.Domain = cfg.Hostname
	be.TLSConfig = cfg.TLS
	// go-smtp only knows "TLS or allowed everywhere": it always allows
	// AUTH and each session decides per connection.
	be.AllowInsecureAuth = true
	// go-smtp refuses a MAIL SIZE= over this and stops DATA past it, both
	// with 552 5.3.4 (RFC 1870 §6.1); and a RCPT past MaxRecipients with
	// 452 4.5.3 (RFC 5321 §4.5.3.1.10).
	be.MaxMessageBytes = cfg.MaxMessageSize
	be.MaxRecipients = cfg.MaxRecipients
	be.EnableSMTPUTF8 = true
	be.ReadTimeout = cfg.ReadTimeout
	be.WriteTimeout = cfg.WriteTimeout
	be.ErrorLog = errorLog{cfg.Logger}
	s.smtp = be
	return s, nil
}

// Context is cancelled when the server is closed: the sessions' calls
// derive from it.
func (s *Server) Context() context.Context { return s.ctx }

// Config is the server's config, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Open returns how many connections are open, in all and from client.
func (s *Server) Open(client netip.Addr) (total, fromClient int) { return s.limiter.Open(client) }

// Serve accepts connections on l until Close or Shutdown. A Serve that
// starts after Close closes l and returns at once: go-smtp would otherwise
// accept on it forever, as its Close only closes listeners it already has.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	if s.cfg.ProxyProtocol {
		// The header is read before go-smtp sees the connection, under
		// the timeout of a command.
		l = proxyproto.NewListener(l, proxyproto.Config{Trusted: s.cfg.TrustedProxies,
			Timeout: s.cfg.ReadTimeout, Logger: s.log})
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	err := s.smtp.Serve(&trackedListener{Listener: l, srv: s})
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	// closeListeners closed it before go-smtp knew it was shutting down:
	// a clean stop, not a failed accept.
	if closed && errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// closeListeners marks the server closed and closes every listener it has.
func (s *Server) closeListeners() {
	s.mu.Lock()
	s.closed = true
	ls := s.listeners
	s.listeners = nil
	s.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
}

// ListenAndServe listens on every address, then serves them all. It fails
// at once if any address cannot be listened on. It returns when every
// listener has stopped; a listener failing closes the server.
func (s *Server) ListenAndServe(addrs []string) error {
	if len(addrs) == 0 {
		return errors.New("smtpserve: no listen address")
	}
	var ls []net.Listener
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return fmt.Errorf("%s: %w", s.cfg.Key, err)
		}
		s.log.Info(s.cfg.Key+" listening", "addr", l.Addr().String())
		ls = append(ls, l)
	}
	errs := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errs <- s.Serve(l) }()
	}
	var first error
	for range ls {
		if err := <-errs; err != nil && first == nil {
			first = err
			s.Close()
		}
	}
	return first
}

// Close stops listening and closes every connection at once.
func (s *Server) Close() error {
	s.closeListeners()
	err := s.smtp.Close()
	// ErrServerClosed: already shut down, force the remaining connections;
	// ErrClosed: go-smtp closing the listeners closeListeners closed.
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	s.closeConns()
	s.cancel()
	return err
}

// Shutdown stops listening and waits for connections to end (clients QUIT
// or time out). When ctx ends first it closes the remaining connections, a
// transaction in progress then being lost to the client, which retries.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	err := s.smtp.Shutdown(ctx)
	if ctx.Err() != nil {
		s.closeConns()
	}
	s.cancel()
	// As in Close: the listeners were ours to close, and closed.
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (s *Server) closeConns() {
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// trackedListener records the connections it accepts, so that Close and a
// timed-out Shutdown can close them: go-smtp's Close does nothing after its
// Shutdown has begun.
type trackedListener struct {
	net.Listener
	srv *Server
}

func (l *trackedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		// A connection over a cap is answered and closed here: go-smtp
		// never sees it (bounds.go).
		tc := l.srv.admit(c)
		if tc == nil {
			continue
		}
		l.srv.mu.Lock()
		l.srv.conns[tc] = struct{}{}
		l.srv.mu.Unlock()
		return tc, nil
	}
}

// Conn is one connection of a Server, as its sessions see it (ConnOf).
type Conn struct {
	net.Conn
	srv  *Server
	once sync.Once
	// greeted: the banner (the first write) has been let through Greet.
	greeted bool
	// closeAfterWrite closes the connection once the next reply is
	// written: go-smtp has no way for a session to send a reply and then
	// hang up, and each reply is one Write (textproto flushes per line).
	closeAfterWrite atomic.Bool
	// readEOF: the client closed its side. go-smtp copies a BDAT chunk
	// with io.Copy, which takes EOF for the end of the chunk: a chunk cut
	// short by the end of the connection would otherwise end the message
	// (ClientClosed).
	readEOF atomic.Bool
	// value is what the server's Greet attached to the connection for its
	// sessions (Attach).
	value atomic.Value

	bounds // bounds.go: its slot, login deadline, data mode, command meter
}

// ConnOf returns the Server connection under c (under TLS, if any); nil
// if c did not come from a Server's listener.
func ConnOf(c *smtp.Conn) *Conn {
	nc := c.Conn()
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, _ := nc.(*Conn)
	return sc
}

// Client is the connection's client address (the PROXY protocol's, when
// one is used).
func (c *Conn) Client() netip.Addr { return connlimit.AddrOf(c.RemoteAddr()) }

// Attach keeps v with the connection (Greet's findings, for the
// sessions); Attached returns it, nil if none.
func (c *Conn) Attach(v any) { c.value.Store(&v) }
func (c *Conn) Attached() any {
	if p, ok := c.value.Load().(*any); ok {
		return *p
	}
	return nil
}

// HangUpAfterReply closes the connection once the next reply is sent.
func (c *Conn) HangUpAfterReply() { c.closeAfterWrite.Store(true) }

// ClientClosed reports whether the client has closed its side of the
// connection.
func (c *Conn) ClientClosed() bool { return c.readEOF.Load() }

func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.readEOF.Store(true)
	}
	if err != nil && err != io.EOF {
		err = c.readError(err) // bounds.go
	}
	return n, err
}

func (c *Conn) Write(p []byte) (int, error) {
	if !c.greeted {
		// The first write is go-smtp's banner, in the connection's own
		// goroutine: Greet may hold it or refuse the connection.
		c.greeted = true
		if g := c.srv.cfg.Greet; g != nil && !g(c) {
			c.Close()
			return 0, net.ErrClosed
		}
	}
	n, err := c.Conn.Write(cleanReply(p)) // as long as p
	if c.closeAfterWrite.Load() {
		c.Close()
		return n, err
	}
	c.wrote(p) // bounds.go
	return n, err
}

func (c *Conn) Close() error {
	c.once.Do(func() {
		c.srv.mu.Lock()
		delete(c.srv.conns, c)
		c.srv.mu.Unlock()
		c.release()
	})
	return c.Conn.Close()
}

// errorLog passes go-smtp's internal errors (failed TLS handshakes, broken
// connections) to slog.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Printf(format string, v ...any) { e.l.Info("smtp: " + fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.l.Info("smtp: " + fmt.Sprint(v...)) }
