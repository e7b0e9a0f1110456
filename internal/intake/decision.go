package intake

import (
	"context"
	"net/netip"
	"time"

	"sendpool/internal/account"
)

// Finding is one rule a check found in a message (a scan rule that fired),
// with its score; shown in the log and the API.
type Finding struct {
	Check  string  `json:"check"`
	Rule   string  `json:"rule"`
	Score  float64 `json:"score"`
	Detail string  `json:"detail,omitempty"`
}

// Decision is the outcome of one Accept, as its observers see it.
type Decision struct {
	Time     time.Time
	Account  string
	ID       string // the message id, when accepted
	From     string
	Rcpts    int
	Size     int
	Protocol string
	ClientIP netip.Addr
	Findings []Finding
	Err      *Error // nil: accepted
}

// Accepted reports whether the message was queued.
func (d *Decision) Accepted() bool { return d.Err == nil }

// observe tells every observer what came of sub.
func (s *Service) observe(ctx context.Context, sub *Submission, id string, err error) {
	if len(s.cfg.Observers) == 0 {
		return
	}
	d := Decision{
		Time: s.cfg.Now(), ID: id, From: sub.From, Rcpts: len(sub.To), Size: sub.Size(),
		Protocol: sub.Protocol, ClientIP: sub.ClientIP, Findings: sub.Findings, Err: AsError(err),
	}
	if sub.Account != nil {
		d.Account = sub.Account.Name
	}
	for _, o := range s.cfg.Observers {
		o(ctx, d)
	}
}

// EnvelopeCheck is a Check that can also answer early, from the envelope
// alone, before the client sends the message (volume limits at RCPT, SPEC
// §3). It must only look: what a message costs is taken by Check, at
// Accept, so that nothing is counted twice.
type EnvelopeCheck interface {
	CheckEnvelope(ctx context.Context, a *account.Account, from string, to []string) error
}

// CheckEnvelope runs every EnvelopeCheck among the checks on an envelope
// whose recipients so far (the one being added included) are to.
func (s *Service) CheckEnvelope(ctx context.Context, a *account.Account, from string, to []string) error {
	if a == nil {
		return AuthRequired("no account")
	}
	for _, c := range s.cfg.Checks {
		ec, ok := c.(EnvelopeCheck)
		if !ok {
			continue
		}
		if err := ec.CheckEnvelope(ctx, a, from, to); err != nil {
			e := AsError(err)
			if e.Check == "" {
				e.Check = c.Name()
			}
			return e
		}
	}
	return nil
}
