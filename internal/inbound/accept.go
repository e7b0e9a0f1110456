package inbound

import (
	"fmt"
	"strconv"

	"github.com/emersion/go-smtp"

	"sendpool/internal/intake"
	"sendpool/internal/queue"
	"sendpool/internal/received"
	"sendpool/internal/scan"
)

// accept runs the checks that need the message (DMARC, the scanners),
// adds our trace fields and queues it. It returns the message id, or the
// refusal.
func (s *Server) accept(ses *session, data []byte) (string, *smtp.SMTPError) {
	ctx, cancel := s.ctx()
	defer cancel()
	dom, acct := ses.firstDomain()
	d := ses.decision(ActionRejected, "", 0, "")
	d.Domain, d.Account = dom, acct
	if len(ses.rcpts) > 0 {
		d.Rcpt = ses.rcpts[0].addr
	}
	refuse := func(reply *smtp.SMTPError, check, detail string) (string, *smtp.SMTPError) {
		if reply.Code/100 == 4 {
			d.Action = ActionDeferred
		}
		d.Check, d.Code, d.Detail = check, reply.Code, detail
		s.decide(d)
		return "", reply
	}

	// Bare CR and LF become CRLF, as at submission (no smuggling through
	// us); then our own Authentication-Results go (RFC 8601 §5).
	msg := stripOurs(intake.NormalizeLineEndings(data), s.cfg.Hostname)
	a := ses.auth
	s.checkMessage(ctx, &a, msg)
	if a.dmarc.Result == "fail" && a.dmarc.Policy == "reject" {
		var names []string
		if sc := ses.client.score; sc != nil {
			names = append(names, sc.fcrdns)
		}
		names = append(names, ses.helo, a.spfPassDomain())
		for _, v := range a.dkim {
			if v.Result == "pass" {
				names = append(names, v.Domain)
			}
		}
		if s.over.covers(ses.remote, names...) {
			s.log.Info("inbound: DMARC failure of a known forwarder not enforced", "client_ip", ses.remote.String(), "from", a.from)
		} else {
			return refuse(errDMARC(a.from), CheckDMARC, fmt.Sprintf("dmarc=fail p=reject header.from=%s spf=%s", a.from, a.spf))
		}
	}

	var res scan.Result
	tag := false
	if s.cfg.Scanner != nil {
		var to []string
		for _, r := range ses.rcpts {
			to = append(to, r.to)
		}
		var failed map[string]error
		res, failed = s.cfg.Scanner.Scan(ctx, &scan.Input{From: ses.from, To: to, ClientIP: ses.remote, Body: msg})
		d.Score = res.Score
		switch {
		case res.Virus != "":
			return refuse(errVirus, CheckVirus, "virus "+res.Virus)
		case res.Spam || res.Score >= s.cfg.RejectScore:
			return refuse(errSpam, CheckSpam, fmt.Sprintf("score %.2f: %s", res.Score, res.RuleNames()))
		case len(failed) > 0 && s.cfg.ScanFail != scan.FailAccept:
			return refuse(errScan, CheckScan, fmt.Sprint(failed))
		}
		tag = res.Score >= s.cfg.TagScore
	}

	id := queue.NewID(s.cfg.Now())
	var rcpts []string
	for _, r := range ses.rcpts {
		rcpts = append(rcpts, r.to)
	}
	head := received.Field(ses.helo, ses.remote, s.cfg.Hostname, ses.protocol(), id, rcpts, s.cfg.Now())
	head = append(head, a.field(s.cfg.Hostname)...)
	if tag {
		head = append(head, "X-Spam-Flag: YES\r\nX-Spam-Score: "+strconv.FormatFloat(res.Score, 'f', 2, 64)+"\r\n"...)
	}
	body := append(head, msg...)
	now := s.cfg.Now()
	rec := &queue.Intake{Protocol: queue.ProtocolSMTP, With: ses.protocol(), ClientIP: ipString(ses.remote),
		Account: acct, TLS: ses.tls, Score: res.Score, Direction: queue.DirectionInbound}
	for _, h := range res.Rules {
		rec.Rules = append(rec.Rules, queue.IntakeRule{Scanner: h.Scanner, Rule: h.Name, Score: h.Score, Detail: h.Detail})
	}
	m := &queue.Message{ID: id, Account: acct, From: ses.from, Recipients: rcpts, Body: body,
		Created: now, Expires: queue.ExpiresAt(now, s.cfg.MaxQueueTime), Intake: rec}
	if err := s.cfg.Queue.Put(ctx, m); err != nil {
		return refuse(errLocal, CheckLocal, "queue put: "+err.Error())
	}
	if s.cfg.OnQueued != nil {
		s.cfg.OnQueued()
	}
	d.Action, d.ID, d.Code, d.Check = ActionAccepted, id, 250, ""
	if tag {
		d.Action, d.Check = ActionTagged, CheckSpam
	}
	d.Detail = a.summary()
	s.decide(d)
	return id, nil
}

// summary is a's results in one line, for the decision.
func (a *auth) summary() string {
	dk := "none"
	for i, v := range a.dkim {
		if i == 0 {
			dk = ""
		} else {
			dk += ","
		}
		dk += string(v.Result)
	}
	dm := a.dmarc.Result
	if dm == "" {
		dm = "none"
	}
	return "spf=" + string(a.spf) + " dkim=" + dk + " dmarc=" + dm
}
