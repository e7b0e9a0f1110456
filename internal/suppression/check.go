package suppression

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/intake"
)

// CheckName is the name of the intake check (intake.Error.Check), by which
// the HTTP submission maps its refusal to 422.
const CheckName = "suppression"

// enhancedBadMailbox is RFC 3463 §3.2's X.1.1, "bad destination mailbox
// address": the same code the receiver gave, so the client's operator
// reads the refusal as the bounce it stands for.
const enhancedBadMailbox = "5.1.1"

// maxReplyLine is the longest reply line we write: RFC 5321 §4.5.3.1.5
// allows 512 octets with the CRLF.
const maxReplyLine = 510

// Check refuses a recipient on the account's list: at RCPT over SMTP
// (intake.EnvelopeCheck), and at intake for every recipient of a message
// (POST /api/v1/send gives its recipients all at once). Another account's
// list is never consulted.
type Check struct {
	cfg CheckConfig
}

// CheckConfig configures a Check.
type CheckConfig struct {
	// Store answers the lookups: one read by key per recipient, best
	// through the node's cache (internal/lookup), whose writes forget.
	Store interface {
		GetSuppression(ctx context.Context, account, address string) (*Entry, error)
	}
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
	// OnRefused, if set, is called for each recipient refused (a metric).
	OnRefused func()
}

var (
	_ intake.Check         = (*Check)(nil)
	_ intake.EnvelopeCheck = (*Check)(nil)
)

// NewCheck returns a Check.
func NewCheck(cfg CheckConfig) *Check {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Check{cfg: cfg}
}

// Name implements intake.Check.
func (c *Check) Name() string { return CheckName }

// CheckEnvelope implements intake.EnvelopeCheck: the recipient being added
// is the last of to; those before it passed at their own RCPT.
func (c *Check) CheckEnvelope(ctx context.Context, a *account.Account, _ string, to []string) error {
	if a == nil || len(to) == 0 {
		return nil
	}
	return c.check(ctx, a.Name, to[len(to)-1])
}

// Check implements intake.Check: every recipient again, which over SMTP
// the node's cache answers from the lookups made at RCPT.
func (c *Check) Check(ctx context.Context, sub *intake.Submission) error {
	if sub.Account == nil {
		return nil
	}
	for _, rcpt := range sub.To {
		if err := c.check(ctx, sub.Account.Name, rcpt); err != nil {
			return err
		}
	}
	return nil
}

// check refuses rcpt if it is on acct's list. A lookup that fails lets the
// recipient through (and is logged): a 5xx is final for the client, and a
// check lost for the length of an outage costs one more bounce at most,
// where refusing would lose good mail.
func (c *Check) check(ctx context.Context, acct, rcpt string) error {
	e, err := c.cfg.Store.GetSuppression(ctx, acct, rcpt)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		c.cfg.Logger.WarnContext(ctx, "suppression: lookup failed, recipient let through",
			"account", acct, "rcpt", rcpt, "err", err)
		return nil
	}
	if !e.Active(c.cfg.Now()) {
		return nil
	}
	if c.cfg.OnRefused != nil {
		c.cfg.OnRefused()
	}
	return &intake.Error{
		Code: intake.CodeRejected, Enhanced: enhancedBadMailbox, Text: RefusalText(rcpt, e), Check: CheckName,
		Detail: fmt.Sprintf("account %s: %s suppressed since %s (%s), msgid %q", acct, e.Address,
			e.Created.UTC().Format(time.RFC3339), e.Reason, e.MessageID),
	}
}

// RefusalText is what a client is told of a suppressed recipient, after
// "550 5.1.1 ": which address, since when (UTC date) and why (the
// receiver's reply, or the admin's reason), and what to do about it. It is
// printable ASCII and fits one reply line.
func RefusalText(rcpt string, e *Entry) string {
	since := e.Created.UTC().Format(time.DateOnly)
	head := "<" + printable(rcpt) + ">: suppressed since " + since
	tail := "; remove it from the suppression list to retry"
	var why string
	if e.Reply != "" {
		why = " after "
	} else {
		why = " by an admin: "
	}
	quoted := printable(e.Reply)
	if e.Reply == "" {
		quoted = printable(e.Reason)
	}
	// Room left on the line for the quotation, less the quotes.
	room := maxReplyLine - len("550 5.1.1 ") - len(head) - len(why) - len(tail) - 2
	if room < 10 {
		return head + tail
	}
	if len(quoted) > room {
		quoted = quoted[:room-3] + "..."
	}
	return head + why + `"` + quoted + `"` + tail
}

// printable collapses white space and replaces anything outside printable
// ASCII with '?': a reply line is text (RFC 5321 §4.2), and a stored reply
// may have come with line breaks or UTF-8 the client did not ask for.
func printable(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}
