// Package inbound is the MX in front of the customers' mailboxes (SPEC §7):
// an SMTP listener for every account's domains whose gate runs the
// cheapest checks first, as Postfix's postscreen does — firewall rules,
// bans (in the shared state, so every node honours them), the greet pause,
// per-IP caps, the weighted DNSBL score (gate.go, score.go); then, before
// DATA wherever it can so that nothing bounces later, relay and recipient
// verification (callout.go) and greylisting of suspicious clients
// (greylist.go); after DATA SPF, DKIM and DMARC with one
// Authentication-Results field (authres.go) and the content scanners.
// Accepted mail goes into the durable queue for the account's
// inbound_host; a bounce to an SRS address is verified and relayed to the
// original sender. Every decision is recorded (decision.go).
package inbound

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/emersion/go-smtp"

	"sendpool/internal/account"
	"sendpool/internal/dns"
	"sendpool/internal/history"
	"sendpool/internal/queue"
	"sendpool/internal/scan"
	"sendpool/internal/smtpserve"
	"sendpool/internal/state"
)

// Accounts lists the accounts, whose domains are the hosted ones (the
// node's lookup cache serves it).
type Accounts interface {
	ListAccounts(ctx context.Context) ([]*account.Account, error)
}

// Queue stores accepted mail durably (queue.Store does).
type Queue interface {
	Put(ctx context.Context, m *queue.Message) error
}

// RecipientList answers "list" verification (recipient.Store does).
type RecipientList interface {
	HasRecipient(ctx context.Context, account, address string) (bool, error)
}

// Scanner scans content (*scan.Check does): the combined verdict of the
// scanners that answered and the errors of those that did not.
type Scanner interface {
	Scan(ctx context.Context, in *scan.Input) (scan.Result, map[string]error)
}

// SRS reverses the SRS addresses bounces come back to (*srs.SRS does).
type SRS interface {
	IsSRS(addr string) bool
	Reverse(addr string) (string, error)
}

// Recorder keeps recent history in the shared state (*history.Recorder).
type Recorder interface {
	Add(value []byte, to ...history.List) bool
}

// List is one weighted DNSBL or DNSWL (negative weight).
type List struct {
	Zone   string
	Weight float64
	// Codes are the answers that are listings; empty: any 127.0.0.0/8
	// answer outside 127.255.255.0/24.
	Codes []netip.Addr
}

// Recipient verification modes (config.Recipients*).
const (
	VerifyCallout   = "callout"
	VerifyList      = "list"
	VerifyAcceptAll = "accept-all"
)

// Greylisting modes (config.Greylist*).
const (
	GreylistOff        = "off"
	GreylistSuspicious = "suspicious"
	GreylistAll        = "all"
)

// Config is what a Server needs; config.Inbound documents the values.
type Config struct {
	Hostname string      // banner, Received "by", authserv-id
	TLS      *tls.Config // nil: no STARTTLS
	Logger   *slog.Logger
	Now      func() time.Time // nil: time.Now

	// Hosted are the hosted domains (shared with delivery's routes).
	Hosted     *Hosted
	Queue      Queue
	State      state.State
	Resolver   dns.Resolver
	Recipients RecipientList // for VerifyList
	Scanner    Scanner       // nil: no content scan
	ScanFail   string        // scan.FailTempfail or scan.FailAccept
	SRS        SRS           // nil: no SRS addresses
	Decisions  Recorder      // nil: decisions are logged only
	OnQueued   func()        // wakes the scheduler; may be nil
	// Observe is told of every decision (metrics); OnZoneError of every
	// DNSBL answer that is the zone's error. Either may be nil.
	Observe     func(Decision)
	OnZoneError func(zone string)

	Allow, Deny          []netip.Prefix
	GreetPause           time.Duration
	PassFor              time.Duration
	BanFor               time.Duration
	MaxConnections       int
	MaxConnectionsPerIP  int
	ConnectionsPerMinute int
	MaxUnknownRecipients int
	MaxErrors            int
	MaxMessageSize       int64
	MaxRecipients        int
	MaxHeaderSize        int64
	ReadTimeout          time.Duration // 0: 5 minutes (RFC 5321 §4.5.3.2.7)

	Lists          []List
	Threshold      float64
	FCrDNSWeight   float64
	HELOWeight     float64
	LookupTimeout  time.Duration // bounds each check's lookups
	DNSBLTimeout   time.Duration // 0: LookupTimeout
	Verify         string
	CalloutTimeout time.Duration
	CalloutPort    int // an inbound_host without a port: this one (delivery.port)
	CalloutPos     time.Duration
	CalloutNeg     time.Duration

	RejectScore, TagScore float64

	Greylist            string
	GreylistDelay       time.Duration
	GreylistRetryWindow time.Duration
	GreylistPassFor     time.Duration

	DMARCOverride []string // domains or CIDRs
	DecisionsKept int
	MaxQueueTime  time.Duration // of the queued messages
}

// Server is the MX.
type Server struct {
	cfg    Config
	log    *slog.Logger
	srv    *smtpserve.Server
	hosted *Hosted // hosted.go
	over   override
}

// New returns a Server; it listens once Serve or ListenAndServe is called.
func New(cfg Config) (*Server, error) {
	if cfg.Hosted == nil {
		return nil, errors.New("inbound: no hosted domains")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DNSBLTimeout <= 0 {
		cfg.DNSBLTimeout = cfg.LookupTimeout
	}
	s := &Server{cfg: cfg, log: cfg.Logger, hosted: cfg.Hosted,
		over: newOverride(cfg.DMARCOverride)}
	srv, err := smtpserve.New(smtpserve.Config{
		Backend:        smtp.BackendFunc(s.newSession),
		Hostname:       cfg.Hostname,
		TLS:            cfg.TLS,
		Key:            "inbound",
		MaxMessageSize: cfg.MaxMessageSize,
		MaxRecipients:  cfg.MaxRecipients,
		Logger:         cfg.Logger,
		ReadTimeout:    cfg.ReadTimeout,
		Greet:          s.greet, // gate.go
		OnCap:          s.onCap,
		Bounds: smtpserve.Bounds{MaxConnections: cfg.MaxConnections, MaxConnectionsPerIP: cfg.MaxConnectionsPerIP,
			MaxHeaderSize: cfg.MaxHeaderSize, MaxErrors: cfg.MaxErrors},
	})
	if err != nil {
		return nil, err
	}
	s.srv = srv
	s.cfg.ReadTimeout = srv.Config().ReadTimeout
	return s, nil
}

// Serve accepts connections on l until Close or Shutdown.
func (s *Server) Serve(l net.Listener) error { return s.srv.Serve(l) }

// Close stops listening and closes every connection at once.
func (s *Server) Close() error { return s.srv.Close() }

// Shutdown stops listening and waits for connections to end.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// ctx is a context for one check's lookups, ended with the server.
func (s *Server) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.srv.Context(), s.cfg.LookupTimeout)
}
