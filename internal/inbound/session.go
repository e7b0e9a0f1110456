package inbound

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"sendpool/internal/account"
	"sendpool/internal/intake"
	"sendpool/internal/received"
	"sendpool/internal/smtpserve"
)

// Replies of the MX (SPEC §7); the client sees these, the log the detail.
var (
	errRelay = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relay not permitted"}
	// RFC 3463 X.1.1: bad destination mailbox address.
	errUnknown = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Recipient address rejected: user unknown"}
	errBadSRS  = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Recipient address rejected: invalid or expired SRS address"}
	// RFC 3463 X.4.3: directory server failure (the probe could not tell).
	errVerifyTemp = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 3}, Message: "Recipient address verification failed temporarily, try again later"}
	// RFC 6647 §2.1: a greylisting server answers 4xx.
	errGreylisted = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Greylisted, try again later"}
	errBanned     = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Service unavailable, closing connection"}
	errNoAuth     = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "No authentication on this port, closing connection"}
	errLocal      = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Local error, try again later"}
	errBadAddress = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	// RFC 7372 §3.2: 5.7.26 multiple authentication checks failed (DMARC).
	errDMARC = func(d string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 26},
			Message: "Unauthenticated email from " + d + " is not accepted due to the domain's DMARC policy"}
	}
	errSpam  = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message refused as spam"}
	errVirus = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message refused: virus found"}
	errScan  = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Content scan unavailable, try again later"}
)

// rcpt is one accepted recipient.
type rcpt struct {
	addr    string           // as given
	to      string           // where it goes: addr, or an SRS address's original
	account *account.Account // nil for an SRS bounce
	domain  string
}

// session is one MX connection from EHLO (STARTTLS starts a new one).
type session struct {
	srv    *Server
	conn   *smtp.Conn
	remote netip.Addr
	helo   string
	tls    bool
	client *client

	from    string
	auth    auth // SPF at MAIL; DKIM and DMARC at DATA
	rcpts   []rcpt
	unknown int // unknown recipients in the session
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	sc := smtpserve.ConnOf(c)
	ses := &session{srv: s, conn: c, helo: c.Hostname(), client: &client{}}
	if sc != nil {
		ses.remote = sc.Client()
		if cl, ok := sc.Attached().(*client); ok {
			ses.client = cl
		}
	}
	_, ses.tls = c.TLSConnectionState()
	if sc := ses.client.score; sc != nil && !sc.heloBad && s.heloBad(ses.helo, ses.remote) {
		sc.heloBad = true
		sc.total += s.cfg.HELOWeight
	}
	return ses, nil
}

func (s *session) decision(action, check string, code int, detail string) Decision {
	d := Decision{ClientIP: ipString(s.remote), HELO: s.helo, From: s.from, Action: action, Check: check, Code: code, Detail: detail}
	if s.client.score != nil {
		d.Score = s.client.score.total
	}
	return d
}

// refuse records a refusal of rcpt (its domain and account, if known) and
// returns the reply.
func (s *session) refuse(reply *smtp.SMTPError, check, to string, r *rcpt, detail string) error {
	action := ActionRejected
	if reply.Code/100 == 4 {
		action = ActionDeferred
	}
	d := s.decision(action, check, reply.Code, detail)
	d.Rcpt = to
	if r != nil && r.account != nil {
		// Only a hosted domain's: the panel counts per hosted domain.
		d.Domain, d.Account = r.domain, r.account.Name
	}
	s.srv.decide(d)
	return reply
}

// hangUp closes the connection after the next reply.
func (s *session) hangUp() {
	if sc := smtpserve.ConnOf(s.conn); sc != nil {
		sc.HangUpAfterReply()
	}
}

// AuthMechanisms offers none: the MX takes no AUTH.
func (s *session) AuthMechanisms() []string { return nil }

// Auth bans the client: no honest MTA authenticates on an MX, and a
// password guesser tries every port.
func (s *session) Auth(string) (sasl.Server, error) {
	ctx, cancel := s.srv.ctx()
	defer cancel()
	s.srv.ban(ctx, s.remote, CheckAuth, "AUTH on the MX")
	s.srv.decide(s.decision(ActionDropped, CheckAuth, errNoAuth.Code, "AUTH on the MX"))
	s.hangUp()
	return nil, errNoAuth
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	ctx, cancel := s.srv.ctx()
	defer cancel()
	s.Reset()
	// A ban another node made during the session holds here too.
	if b, err := s.srv.Bans().Get(ctx, s.remote); err == nil && b != nil {
		s.hangUp()
		return s.refuse(errBanned, CheckBan, "", nil, b.Reason)
	}
	if sc := s.client.score; sc != nil && sc.listed > 0 && sc.total >= s.srv.cfg.Threshold {
		// Listed, and with the HELO's weight over the threshold.
		return s.refuse(&smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: fmt.Sprintf("Service unavailable; client [%s] blocked using %s", s.remote, sc.zones[0])},
			CheckDNSBL, "", nil, fmt.Sprintf("score %.2f with the HELO", sc.total))
	}
	s.from = from
	s.auth = s.srv.checkSPF(ctx, s.remote, s.helo, from)
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ctx, cancel := s.srv.ctx()
	defer cancel()
	_, dom, err := intake.ParseAddress(to)
	if err != nil {
		return errBadAddress
	}
	r := rcpt{addr: to, to: to, domain: dom}
	if srs := s.srv.cfg.SRS; srs != nil && srs.IsSRS(to) {
		orig, err := srs.Reverse(to)
		if err != nil {
			return s.unknownRcpt(errBadSRS, CheckSRS, to, &r, err.Error())
		}
		r.to = orig
		s.rcpts = append(s.rcpts, r)
		return nil
	}
	a, err := s.srv.hosted.Account(ctx, dom)
	if err != nil {
		return s.refuse(errLocal, CheckLocal, to, &r, "accounts: "+err.Error())
	}
	if a == nil {
		// Never an open relay: only the hosted domains.
		return s.refuse(errRelay, CheckRelay, to, &r, "domain not hosted")
	}
	r.account = a
	switch v, detail := s.srv.verify(ctx, a, to); v {
	case unknown:
		return s.unknownRcpt(errUnknown, CheckRecipient, to, &r, detail)
	case tempfail:
		return s.refuse(errVerifyTemp, CheckRecipient, to, &r, detail)
	}
	if s.srv.greylists(s.client) {
		wait, err := s.srv.greylisted(ctx, origin(s.auth.spfPassDomain(), s.remote), s.from, to)
		if err != nil {
			s.srv.log.Warn("inbound: greylist state", "err", err) // fail open
		} else if wait {
			return s.refuse(errGreylisted, CheckGreylist, to, &r, "first attempt of the triple")
		}
	}
	s.rcpts = append(s.rcpts, r)
	return nil
}

// unknownRcpt refuses an unknown recipient; past MaxUnknownRecipients in
// the session the client is banned (a dictionary attack).
func (s *session) unknownRcpt(reply *smtp.SMTPError, check, to string, r *rcpt, detail string) error {
	s.unknown++
	if s.srv.cfg.MaxUnknownRecipients > 0 && s.unknown > s.srv.cfg.MaxUnknownRecipients {
		ctx, cancel := s.srv.ctx()
		defer cancel()
		s.srv.ban(ctx, s.remote, check, fmt.Sprintf("%d unknown recipients", s.unknown))
		s.hangUp()
		return s.refuse(errBanned, check, to, r, fmt.Sprintf("%d unknown recipients: banned", s.unknown))
	}
	return s.refuse(reply, check, to, r, detail)
}

func (s *session) Data(r io.Reader) error {
	sc := smtpserve.ConnOf(s.conn)
	if sc != nil {
		sc.StartData()
		defer sc.EndData()
	}
	var buf bytes.Buffer
	_, err := buf.ReadFrom(smtpserve.DataReader(r, s.conn.Conn(), s.srv.cfg.ReadTimeout, s.srv.cfg.MaxHeaderSize))
	var reply *smtp.SMTPError
	switch {
	case errors.Is(err, smtp.ErrDataTooLarge):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	case errors.As(err, &reply):
		return reply
	case err != nil:
		return smtpserve.ErrConnectionEnded
	case sc != nil && sc.ClientClosed():
		return smtpserve.ErrConnectionEnded
	}
	id, reply := s.srv.accept(s, buf.Bytes()) // accept.go
	if reply != nil {
		return reply
	}
	if sc != nil {
		sc.Accepted()
	}
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + id}
}

func (s *session) Reset() {
	s.from, s.rcpts, s.auth = "", nil, auth{}
}

func (s *session) Logout() error { return nil }

// firstDomain is the hosted domain of the transaction's first recipient.
func (s *session) firstDomain() (string, string) {
	for _, r := range s.rcpts {
		if r.account != nil {
			return r.domain, r.account.Name
		}
	}
	if len(s.rcpts) > 0 {
		return s.rcpts[0].domain, ""
	}
	return "", ""
}

// protocol is the RFC 3848 "with" keyword.
func (s *session) protocol() string { return received.With(s.tls, false) }
