package smtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"sendpool/internal/account"
	"sendpool/internal/intake"
	"sendpool/internal/queue"
	"sendpool/internal/received"
	"sendpool/internal/smtpserve"
)

// Replies of the session itself; the rest come from intake or go-smtp.
var (
	// RFC 4954 §6: AUTH over a connection where it is not allowed.
	errEncryptionRequired = &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11},
		Message: "Encryption required for requested authentication mechanism"}
	// RFC 5321 §4.1.4: MAIL within a transaction; RFC 4954 §4: AUTH too.
	errBadSequence = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1},
		Message: "Bad sequence of commands"}
	// RFC 5322 §2.1.1 allows 998 octets a line; go-smtp allows twice that.
	errLineTooLong = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 4, 0},
		Message: "Line too long"}
	// RFC 4954 §6: 454 4.7.0 is a temporary authentication failure; the
	// guard refuses before the password is checked, then we hang up.
	errAuthThrottled = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Too many authentication failures, try again later"}
)

// Reply of an accepted message (SPEC §3).
const (
	codeOK        = 250
	queuedMessage = "Ok: queued as "
)

// authAllowed decides whether AUTH is offered (SPEC §3): over TLS, from a
// loopback client (nothing crosses a network), or when the config allows
// it everywhere. Elsewhere a password would cross the network in clear.
func authAllowed(isTLS, allowInsecure bool, remote netip.Addr) bool {
	return isTLS || allowInsecure || remote.Unmap().IsLoopback()
}

// session is one SMTP connection's state (from EHLO; STARTTLS starts a new
// one). go-smtp calls its methods from the connection's goroutine, except
// Data under BDAT (CHUNKING, which go-smtp always offers): that runs in a
// goroutine of its own while commands go on, hence the mutex.
type session struct {
	srv    *Server
	conn   *smtp.Conn
	remote netip.Addr
	helo   string // EHLO name; a new EHLO resets the transaction, not this
	tls    bool   // fixed for the session: STARTTLS starts a new one

	// mu guards the fields below against Data's goroutine: they are only
	// written under it, and that goroutine only reads them under it.
	mu      sync.Mutex
	account *account.Account // from AUTH or the trusted network
	authed  bool             // account came from AUTH

	inTx  bool // MAIL accepted, not yet ended by DATA or RSET
	from  string
	size  int64 // SIZE= of MAIL, a hint
	rcpts []string
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	var remote netip.Addr
	if ta, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		remote = ta.AddrPort().Addr().Unmap()
	}
	_, isTLS := c.TLSConnectionState()
	return &session{srv: s, conn: c, remote: remote, helo: c.Hostname(), tls: isTLS}, nil
}

func (s *session) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.srv.ctx, opTimeout)
}

// refuse logs an intake refusal with its detail and returns the reply.
func (s *session) refuse(stage string, a *account.Account, err error) error {
	e := intake.AsError(err)
	name := ""
	if a != nil {
		name = a.Name
	}
	s.srv.log.Info("refused", "stage", stage, "code", e.Code, "enhanced", e.Enhanced,
		"check", e.Check, "detail", e.Detail, "account", name, "client_ip", s.remote.String())
	return toSMTPError(e)
}

// toSMTPError turns an intake.Error into go-smtp's reply.
func toSMTPError(e *intake.Error) *smtp.SMTPError {
	var ec smtp.EnhancedCode
	if _, err := fmt.Sscanf(e.Enhanced, "%d.%d.%d", &ec[0], &ec[1], &ec[2]); err != nil {
		ec = smtp.EnhancedCodeNotSet
	}
	return &smtp.SMTPError{Code: e.Code, EnhancedCode: ec, Message: e.Text}
}

func (s *session) AuthMechanisms() []string {
	if !authAllowed(s.tls, s.srv.cfg.AllowInsecureAuth, s.remote) {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if !authAllowed(s.tls, s.srv.cfg.AllowInsecureAuth, s.remote) {
		return nil, errEncryptionRequired
	}
	if s.inTx {
		return nil, errBadSequence
	}
	switch mech {
	case sasl.Plain:
		return saslReplies{sasl.NewPlainServer(func(identity, user, pass string) error {
			return s.authenticate(identity, user, pass)
		}).Next}, nil
	case sasl.Login:
		return saslReplies{newLoginServer(func(user, pass string) error { return s.authenticate("", user, pass) }).Next}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// authenticate checks the credentials, after asking the guard (if any)
// whether this client may still try, and tells it of a failure.
func (s *session) authenticate(identity, user, pass string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	g := s.srv.cfg.Guard
	if g != nil {
		if err := g.Check(ctx, s.remote, user); err != nil {
			s.srv.log.Info("refused", "stage", "auth", "code", errAuthThrottled.Code, "check", "authguard",
				"detail", err.Error(), "account", user, "client_ip", s.remote.String())
			s.hangUpAfterReply()
			return errAuthThrottled
		}
	}
	var a *account.Account
	var err error
	// No acting as another user: the authorization identity, if any, must
	// be the user (RFC 4616 §2).
	if identity != "" && identity != user {
		err = intake.AuthFailed(fmt.Sprintf("%q may not act as %q", user, identity))
	} else {
		a, err = s.srv.cfg.Intake.Authenticate(ctx, user, pass)
	}
	if err != nil {
		if g != nil && intake.AsError(err).Code == intake.CodeAuthFailed {
			g.Fail(ctx, s.remote, user)
		}
		return s.refuse("auth", nil, err)
	}
	// Only a right password earns the client trust (authguard.Succeed).
	if g != nil {
		g.Succeed(ctx, s.remote, user)
	}
	s.mu.Lock()
	s.account, s.authed = a, true
	s.mu.Unlock()
	if tc := s.tracked(); tc != nil {
		tc.MarkBusy() // the login deadline is over (bounds.go)
	}
	return nil
}

// hangUpAfterReply closes the connection once the next reply is sent.
func (s *session) hangUpAfterReply() {
	if tc := s.tracked(); tc != nil {
		tc.HangUpAfterReply()
	}
}

// clientClosed reports whether the client has closed its side of the
// connection.
func (s *session) clientClosed() bool {
	tc := s.tracked()
	return tc != nil && tc.ClientClosed()
}

// tracked is the session's connection (smtpserve.ConnOf); nil if the
// connection did not come from Serve's listener.
func (s *session) tracked() *smtpserve.Conn { return smtpserve.ConnOf(s.conn) }

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inTx {
		return errBadSequence
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if s.account == nil {
		a, err := s.srv.cfg.Intake.TrustedAccount(ctx, s.remote)
		if err != nil {
			return s.refuse("mail", s.account, err)
		}
		if a == nil {
			return s.refuse("mail", s.account, intake.AuthRequired("no AUTH and not in any account's networks"))
		}
		s.account = a
	}
	if err := s.srv.cfg.Intake.CheckStatus(s.account); err != nil {
		return s.refuse("mail", s.account, err)
	}
	if err := s.srv.cfg.Intake.CheckSpace(); err != nil {
		return s.refuse("mail", s.account, err)
	}
	if err := s.srv.cfg.Intake.CheckSender(s.account, from); err != nil {
		return s.refuse("mail", s.account, err)
	}
	s.inTx, s.from, s.rcpts = true, from, nil
	if opts != nil {
		s.size = opts.Size
	}
	if tc := s.tracked(); tc != nil {
		tc.MarkBusy() // the login deadline is over (bounds.go)
	}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.srv.cfg.Intake.CheckRecipient(s.account, to); err != nil {
		return s.refuse("rcpt", s.account, err)
	}
	// Volume limits answer here, before the message is sent (SPEC §3):
	// intake only looks now and counts the message when it accepts it.
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.srv.cfg.Intake.CheckEnvelope(ctx, s.account, s.from, append(s.rcpts[:len(s.rcpts):len(s.rcpts)], to)); err != nil {
		return s.refuse("rcpt", s.account, err)
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

// Data reads the message and queues it. go-smtp's reader ends it only at
// <CRLF>.<CRLF> (RFC 5321 §4.1.1.4), never at <LF>.<LF>, so a smuggled
// "<LF>.<LF>MAIL FROM…" stays inside this one message; intake then turns
// every bare CR or LF into CRLF, so nothing we relay on can end early at a
// lax receiver (SMTP smuggling).
func (s *session) Data(r io.Reader) error {
	if tc := s.tracked(); tc != nil {
		tc.StartData() // read errors become replies of ours (bounds.go)
		defer tc.EndData()
	}
	s.mu.Lock()
	a, authed, from, rcpts := s.account, s.authed, s.from, s.rcpts
	s.mu.Unlock()

	// The data goes behind room for the Received field, written in front
	// once the id is known, so that the body is not copied again; past
	// spool.Threshold it goes to a spool file. Nothing is allocated after
	// the size a client announces (SIZE=): it may lie.
	w := s.srv.cfg.Spool.NewWriter(received.Room)
	_, err := w.ReadFrom(smtpserve.DataReader(r, s.conn.Conn(), s.srv.cfg.ReadTimeout, s.srv.cfg.MaxHeaderSize))
	if err != nil {
		w.Discard()
	}
	var reply *smtp.SMTPError
	switch {
	case errors.Is(err, smtp.ErrDataTooLarge):
		return s.refuse("data", a, intake.TooBig(fmt.Sprintf("over %d bytes", s.srv.cfg.MaxMessageSize)))
	case errors.Is(err, smtpserve.ErrHeaderTooBig):
		s.refuse("data", a, intake.TooBig(fmt.Sprintf("header section over %d bytes", s.srv.cfg.MaxHeaderSize)))
		return smtpserve.ErrHeaderTooBig // the same code, saying which part
	case errors.Is(err, smtp.ErrTooLongLine):
		return errLineTooLong
	case errors.As(err, &reply):
		return reply // a read error the connection made a reply of (bounds.go), logged
	case err != nil:
		// The connection broke (or, under BDAT, the client reset the
		// transfer); nobody reads a reply, but none repeats the error.
		s.srv.log.Info("refused", "stage", "data", "code", smtpserve.ErrConnectionEnded.Code,
			"detail", err.Error(), "client_ip", s.remote.String())
		return smtpserve.ErrConnectionEnded
	case s.clientClosed():
		// Under BDAT the end of the data may be the end of the connection
		// (trackedConn.readEOF): the client never gets a 250 for it and
		// sends the message again, so storing it would deliver it twice,
		// the first time truncated. A complete message is read before any
		// EOF: go-smtp reads no further than the chunk's size.
		w.Discard()
		s.srv.log.Info("refused", "stage", "data", "code", smtpserve.ErrConnectionEnded.Code,
			"detail", "connection closed mid-message", "client_ip", s.remote.String())
		return smtpserve.ErrConnectionEnded
	}

	body, err := w.Finish()
	if err != nil {
		return s.refuse("data", a, intake.LocalError("spool", err.Error()))
	}
	defer body.Close()
	sv := s.srv.cfg.Intake
	auth := queue.AuthNetwork
	if authed {
		auth = queue.AuthPassword
	}
	ctx, cancel := s.ctx()
	defer cancel()
	sub := &intake.Submission{Account: a, From: from, To: rcpts,
		ClientIP: s.remote, Helo: s.helo, Via: queue.ProtocolSMTP, Auth: auth, TLS: s.tls}
	if buf, room, ok := body.Memory(); ok {
		sub.Body, sub.Room = buf, room
	} else {
		sub.Spooled = body
	}
	id, err := sv.Accept(ctx, sub)
	if err != nil {
		return s.refuse("data", a, err)
	}
	if tc := s.tracked(); tc != nil {
		tc.Accepted() // mail delivered: the junk and error counts start again
	}
	s.srv.log.Info("accepted", "id", id, "account", sub.Account.Name, "from", from,
		"rcpts", len(rcpts), "size", sub.Size(), "client_ip", s.remote.String(), "protocol", sub.Protocol)
	// go-smtp sends an error's code and text as they are: this is how the
	// 250 reply names the id.
	return &smtp.SMTPError{Code: codeOK, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: queuedMessage + id}
}

func (s *session) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inTx, s.from, s.size, s.rcpts = false, "", 0, nil
}

func (s *session) Logout() error { return nil }
