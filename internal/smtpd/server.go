// Package smtpd is the submission SMTP server hosting servers relay through.
// Its sessions turn each SMTP command into an intake call and each
// intake.Error into a reply (SPEC §3); the listening side (connections,
// caps, bounds, PROXY protocol) is internal/smtpserve's.
package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/emersion/go-smtp"

	"sendpool/internal/intake"
	"sendpool/internal/smtpserve"
	"sendpool/internal/spool"
)

// opTimeout bounds one intake call (authentication, trusted-network
// lookup, checks and durable Put).
const opTimeout = 2 * time.Minute

// Config is what a Server needs.
type Config struct {
	Intake            *intake.Service
	Hostname          string      // banner and Received "by"
	TLS               *tls.Config // nil: no STARTTLS
	AllowInsecureAuth bool        // AUTH over plaintext from non-loopback clients
	MaxMessageSize    int64       // 0: 25 MB
	MaxRecipients     int         // 0: 100
	Logger            *slog.Logger
	ReadTimeout       time.Duration // 0: 5 minutes
	WriteTimeout      time.Duration // 0: 1 minute
	// Guard throttles password guessing (internal/authguard); nil: none.
	Guard AuthGuard
	// ProxyProtocol: each connection starts with a PROXY protocol v2
	// header (internal/proxyproto) from one of TrustedProxies, and the
	// client it names is the session's client (AUTH, networks, the
	// throttle, logs, Received). Any other peer is disconnected unread.
	ProxyProtocol  bool
	TrustedProxies []netip.Prefix
	// Spool takes the data of a large message to a file as it arrives
	// (internal/spool); nil: every message is read into memory.
	Spool *spool.Dir

	Bounds // connection caps, login timeout, junk, header size
}

// Bounds are what one client, or many, can make the server hold (issue
// 13): smtpserve.Bounds.
type Bounds = smtpserve.Bounds

// AuthGuard is checked before each AUTH's password and told of each
// failure and success: past its limits Check returns an error and the
// client gets 454 4.7.0, then the connection is closed. It must not fail
// otherwise.
type AuthGuard interface {
	Check(ctx context.Context, client netip.Addr, user string) error
	Fail(ctx context.Context, client netip.Addr, user string)
	Succeed(ctx context.Context, client netip.Addr, user string)
}

// Server is a submission SMTP server.
type Server struct {
	cfg Config
	log *slog.Logger
	srv *smtpserve.Server
	ctx context.Context // for intake calls; cancelled by Close
}

// New returns a Server; it listens once Serve or ListenAndServe is called.
func New(cfg Config) (*Server, error) {
	if cfg.Intake == nil {
		return nil, errors.New("smtpd: no intake service")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	srv, err := smtpserve.New(smtpserve.Config{
		Backend:        smtp.BackendFunc(s.newSession),
		Hostname:       cfg.Hostname,
		TLS:            cfg.TLS,
		Key:            "submission",
		MaxMessageSize: cfg.MaxMessageSize,
		MaxRecipients:  cfg.MaxRecipients,
		Logger:         cfg.Logger,
		ReadTimeout:    cfg.ReadTimeout,
		WriteTimeout:   cfg.WriteTimeout,
		ProxyProtocol:  cfg.ProxyProtocol,
		TrustedProxies: cfg.TrustedProxies,
		Bounds:         cfg.Bounds,
	})
	if err != nil {
		return nil, errors.New("smtpd: " + err.Error())
	}
	s.srv, s.ctx = srv, srv.Context()
	// The defaults smtpserve filled in, for the sessions.
	sc := srv.Config()
	s.cfg.MaxMessageSize, s.cfg.ReadTimeout = sc.MaxMessageSize, sc.ReadTimeout
	return s, nil
}

// Serve accepts connections on l until Close or Shutdown.
func (s *Server) Serve(l net.Listener) error { return s.srv.Serve(l) }

// ListenAndServe listens on every address, then serves them all.
func (s *Server) ListenAndServe(addrs []string) error { return s.srv.ListenAndServe(addrs) }

// Close stops listening and closes every connection at once.
func (s *Server) Close() error { return s.srv.Close() }

// Shutdown stops listening and waits for connections to end; see
// smtpserve.Server.Shutdown.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
