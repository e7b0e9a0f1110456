package inbound

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"

	"sendpool/internal/account"
	"sendpool/internal/recipient"
)

// verdict of a recipient verification.
type verdict int

const (
	known    verdict = iota
	unknown          // 550 5.1.1: nothing will bounce later
	tempfail         // 451: the probe could not tell now
)

// calloutKey caches a probe's answer in the shared state, for every node.
const calloutKey = "inbound:callout:"

// verify says whether rcpt exists at a's inbound_host, as
// inbound.recipients says to find out.
func (s *Server) verify(ctx context.Context, a *account.Account, rcpt string) (verdict, string) {
	switch s.cfg.Verify {
	case VerifyAcceptAll:
		return known, ""
	case VerifyList:
		ok, err := s.cfg.Recipients.HasRecipient(ctx, a.Name, rcpt)
		if err != nil {
			return tempfail, "recipient list: " + err.Error()
		}
		if !ok {
			return unknown, "not on account " + a.Name + "'s recipient list"
		}
		return known, ""
	}
	return s.callout(ctx, a, rcpt)
}

// callout asks a's inbound_host whether it takes rcpt: EHLO, MAIL
// FROM:<> (a probe must not cause a bounce, RFC 5321 §4.5.5), RCPT, QUIT
// (nothing is sent). A 2xx is cached CalloutPos, a 5xx CalloutNeg; a 4xx
// or no answer is not cached and defers the client (451).
func (s *Server) callout(ctx context.Context, a *account.Account, rcpt string) (verdict, string) {
	key := calloutKey + recipient.Key(rcpt)
	if v, ok, err := s.cfg.State.Get(ctx, key); err == nil && ok && len(v) > 0 {
		if v[0] == '+' {
			return known, ""
		}
		return unknown, "callout (cached): " + string(v[1:])
	}
	reply, code, err := s.probe(ctx, a.InboundHost, rcpt)
	switch {
	case err == nil:
		s.cfg.State.Set(ctx, key, []byte("+"), s.cfg.CalloutPos)
		return known, ""
	case code >= 500:
		s.cfg.State.Set(ctx, key, []byte("-"+reply), s.cfg.CalloutNeg)
		return unknown, "callout to " + a.InboundHost + ": " + reply
	}
	return tempfail, "callout to " + a.InboundHost + ": " + reply
}

// probe runs the RCPT probe; code is the refusal's, 0 for a failure to
// talk at all.
func (s *Server) probe(ctx context.Context, hostport, rcpt string) (reply string, code int, err error) {
	addr := hostport
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		addr = net.JoinHostPort(strings.Trim(hostport, "[]"), strconv.Itoa(s.cfg.CalloutPort))
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CalloutTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err.Error(), 0, err
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	c := smtp.NewClient(conn)
	defer c.Close()
	// Only the RCPT's refusal says the recipient is unknown: a host
	// refusing the probe itself tells nothing of it.
	step := func(err error, rcptStage bool) (string, int, error) {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			code := se.Code
			if !rcptStage && code >= 500 {
				code = 0
			}
			return strconv.Itoa(se.Code) + " " + se.Message, code, err
		}
		return err.Error(), 0, err
	}
	if err := c.Hello(s.cfg.Hostname); err != nil {
		return step(err, false)
	}
	if err := c.Mail("", nil); err != nil {
		return step(err, false)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return step(err, true)
	}
	c.Quit()
	return "", 250, nil
}
