// Package intake holds the checks every new message passes before it is
// queued, the same for SMTP submission and the HTTP /send API: who the
// client is (AUTH or a trusted network), whether the envelope sender belongs
// to the account, the account's status, then pluggable Checks (volume
// limits, content scanning), and finally the durable queue.Put.
//
// Refusals are *Error values carrying the SMTP reply; the SMTP server sends
// them as they are and the HTTP API maps them to statuses.
package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/queue"
	"sendpool/internal/received"
	"sendpool/internal/spool"
)

// Check is one pluggable check of a submission (volume limits, content
// scanning). It returns nil to pass, an *Error to refuse; any other error is
// a temporary failure (451 4.3.0), so that a broken check loses nothing.
type Check interface {
	Name() string
	Check(ctx context.Context, s *Submission) error
}

// Submission is one message as a client submitted it, and what the way in
// knows of the client: each way in (SMTP submission, /send) fills these
// fields; Accept does the rest, the Received field included.
type Submission struct {
	Account *account.Account
	From    string // envelope sender; "" for the null sender <>
	To      []string
	// Body is the message with CRLF line endings as the client sent it,
	// behind Room bytes of free space: Accept writes its Received field
	// there (received.Room is enough for most), so the message is not
	// copied to make room for it. From then on Body is the whole message.
	Body []byte
	Room int
	// Spooled, when set, is the message instead of Body and Room: a large
	// one on file (internal/spool), which Accept reads and writes its
	// fields on top of but never holds whole. Its line endings are CRLF
	// already (the spool writer makes them so).
	Spooled  *spool.Body
	ClientIP netip.Addr
	Helo     string // the client's EHLO name (SMTP)
	Via      string // queue.ProtocolSMTP or queue.ProtocolHTTP
	Auth     string // queue.AuthPassword (SMTP AUTH, /send's Basic) or queue.AuthNetwork
	// TLS: the client's connection was encrypted (STARTTLS, HTTPS).
	TLS bool
	// ID and Protocol are set by Accept: the message id, and the RFC 3848
	// keyword of how it came ("ESMTPSA", …; "HTTP").
	ID       string
	Protocol string
	// Findings are what the checks found (scan rules that fired), whether
	// or not they refused the message; Accept's observers see them.
	Findings []Finding
	// Scans are each scanner's answer (scan.Check sets them); with
	// Findings they go on the message's queue.Intake record.
	Scans []queue.ScanVerdict
}

// Size is the size of the body in bytes.
func (s *Submission) Size() int {
	if s.Spooled != nil {
		return int(s.Spooled.Size())
	}
	return len(s.Body)
}

// Config is what a Service needs.
type Config struct {
	Accounts     account.Store
	Queue        queue.Store
	Hostname     string           // server.hostname: the Received field's "by"
	Now          func() time.Time // nil: time.Now
	Logger       *slog.Logger     // nil: discard
	MaxQueueTime time.Duration    // delivery.max_queue_time; 0: messages never expire
	OnQueued     func()           // wakes the scheduler; may be nil
	Checks       []Check          // run in order by Accept
	// Observers are told of every Accept's outcome (decision.go).
	Observers []func(ctx context.Context, d Decision)
	// VerifyDKIM verifies a message's DKIM signatures for the From: rule
	// (CheckHeader); nil: a foreign From: is never vouched for.
	VerifyDKIM VerifyFunc
	// Sign, if set, returns the message as it is to be queued (DKIM-signed)
	// once every check has passed, and the signatures it made (for the
	// intake record): it is signed once, so retries send the same
	// signature. A spooled submission (s.Spooled) is signed where it is:
	// Sign puts the fields on top of it and returns no message. An error
	// is a temporary failure (451 4.3.0).
	Sign func(ctx context.Context, s *Submission) ([]byte, []queue.DKIMSignature, error)
	// Space refuses new mail while the disk is under its reserve
	// (space.go); nil: no check.
	Space Space
	// SRS rewrites the foreign envelope sender of a forwarding account's
	// message (SPEC §7, internal/srs); nil: a foreign sender is refused
	// for every account.
	SRS SenderRewriter
}

// SenderRewriter gives the address a forwarded message is sent from
// (*srs.SRS does).
type SenderRewriter interface {
	Forward(addr string) (string, error)
}

// Service runs the intake checks. It is safe for concurrent use.
type Service struct {
	cfg Config
	log *slog.Logger
	// checkHash is account.CheckPassword; tests count its calls.
	checkHash func(hash, password string) bool

	authMu    sync.Mutex
	authCache map[[32]byte]time.Time // verified credentials → expiry
	// authFlight holds the credentials being checked now (closed when
	// done), so that sessions presenting the same ones wait for one hash.
	authFlight map[[32]byte]chan struct{}
	// hashSlots bounds the argon2id runs at once: each holds 19 MiB.
	hashSlots chan struct{}

	dummyOnce sync.Once
	dummyHash string // hashed once, checked for unknown users

	trustMu    sync.Mutex
	trustIndex []trustedNet
	trustAt    time.Time // when trustIndex was built
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		cfg:        cfg,
		log:        cfg.Logger,
		checkHash:  account.CheckPassword,
		authCache:  make(map[[32]byte]time.Time),
		authFlight: make(map[[32]byte]chan struct{}),
		hashSlots:  make(chan struct{}, hashConcurrency()),
	}
}

// CheckStatus refuses a suspended account (550 5.7.1) and a held one
// (451 4.7.1: the client keeps the message and retries).
func (s *Service) CheckStatus(a *account.Account) error {
	switch a.Status {
	case account.StatusSuspended:
		return AccountSuspended(fmt.Sprintf("account %s suspended: %s", a.Name, a.Reason))
	case account.StatusHeld:
		return AccountHeld(fmt.Sprintf("account %s held: %s", a.Name, a.Reason))
	}
	return nil
}

// Accept runs every check on sub and queues it. It returns the message id
// only once queue.Put has returned, that is once the message is durable.
// Every outcome is logged and told to the observers.
func (s *Service) Accept(ctx context.Context, sub *Submission) (string, error) {
	id, err := s.accept(ctx, sub)
	s.observe(ctx, sub, id, err)
	return id, err
}

func (s *Service) accept(ctx context.Context, sub *Submission) (string, error) {
	now := s.cfg.Now()
	sub.ID, sub.Protocol = queue.NewID(now), protocol(sub)
	field := received.Field(sub.Helo, sub.ClientIP, s.cfg.Hostname, sub.Protocol, sub.ID, sub.To, now)
	if sub.Spooled != nil {
		if err := sub.Spooled.Prepend(field); err != nil {
			return "", LocalError("spool", err.Error())
		}
	} else {
		sub.Body = received.Prepend(sub.Body, sub.Room, field)
	}
	sub.Room = 0
	if sub.Account == nil {
		return "", AuthRequired("no account")
	}
	// Read the account again: a session may outlive a suspension.
	a, err := s.cfg.Accounts.GetAccount(ctx, sub.Account.Name)
	if errors.Is(err, account.ErrNotFound) {
		return "", AccountSuspended(fmt.Sprintf("account %s no longer exists", sub.Account.Name))
	}
	if err != nil {
		return "", LocalError("account", fmt.Sprintf("get account %s: %v", sub.Account.Name, err))
	}
	sub.Account = a
	if err := s.CheckStatus(a); err != nil {
		return "", err
	}
	if err := s.CheckSpace(); err != nil {
		return "", err
	}
	// The envelope again, so that every submission path gets the same checks.
	if err := s.CheckSender(a, sub.From); err != nil {
		return "", err
	}
	if len(sub.To) == 0 {
		return "", NoRecipients()
	}
	for _, rcpt := range sub.To {
		if err := s.CheckRecipient(a, rcpt); err != nil {
			return "", err
		}
	}
	// A bare CR or LF becomes CRLF, as Postfix's smtpd_forbid_bare_newline =
	// normalize does: the message is kept (old scripts send bare LF), and
	// what we relay on can never hold "<LF>.<LF>", which a lax receiver
	// might take for the end of DATA (SMTP smuggling) — dot-stuffing then
	// escapes every line that starts with a dot.
	if err := s.checkContent(ctx, a, sub); err != nil {
		return "", err
	}
	for _, c := range s.cfg.Checks {
		if err := c.Check(ctx, sub); err != nil {
			e := AsError(err)
			if e.Check == "" {
				e.Check = c.Name()
			}
			return "", e
		}
	}
	if err := s.rewriteSender(a, sub); err != nil {
		return "", err
	}
	rec := record(sub)
	if s.cfg.Sign != nil {
		signed, sigs, err := s.cfg.Sign(ctx, sub)
		if err != nil {
			return "", LocalError("sign", err.Error())
		}
		rec.DKIM = sigs
		if sub.Spooled == nil {
			sub.Body = signed
		}
	}

	m := &queue.Message{
		ID:         sub.ID,
		Account:    a.Name,
		From:       sub.From,
		Recipients: sub.To,
		Body:       sub.Body,
		Created:    now,
		Spooled:    spooled(sub),
		Expires:    queue.ExpiresAt(now, s.cfg.MaxQueueTime),
		Intake:     rec,
	}
	if err := s.cfg.Queue.Put(ctx, m); err != nil {
		s.log.ErrorContext(ctx, "queue put failed", "id", m.ID, "account", a.Name, "err", err)
		return "", LocalError("queue", fmt.Sprintf("put %s: %v", m.ID, err))
	}
	if s.cfg.OnQueued != nil {
		s.cfg.OnQueued()
	}
	return m.ID, nil
}
