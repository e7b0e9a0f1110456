package suppression

import (
	"context"
	"log/slog"
	"time"

	"sendpool/internal/queue"
)

// CategoryBadMailbox is the classifier's category (internal/classify) of a
// reply saying the mailbox does not exist or is disabled: RFC 3463 X.1.1,
// X.2.1, X.7.13, or the words receivers use for them.
const CategoryBadMailbox = "bad-mailbox"

// Suppresses reports whether a delivery's final outcome puts its recipient
// on its account's list: it bounced on a permanent verdict whose category
// is bad-mailbox. Never a blocked-IP verdict (the receiver refused our IP,
// not the address), never a policy, spam, reputation, DMARC or quota reply,
// never a deferral or an expiry (what failed may come back). A DSN we
// generated, or a null-sender message an account relayed (itself a
// notification, RFC 5321 §4.5.5), suppresses nothing: its recipient is the
// sender of some earlier mail, not an address the account chose to write
// to.
func Suppresses(l *queue.Lease, o queue.Outcome, r queue.Result) bool {
	return !l.Bounce && l.From != "" && l.Account != "" && l.Recipient != "" &&
		o.Status == queue.StatusBounced && r.Verdict == queue.VerdictPermanent &&
		o.Attempt.Category == CategoryBadMailbox
}

// Recorder is the scheduler hook that fills the lists
// (queue.SchedulerConfig.OnFinal).
type Recorder struct {
	cfg RecorderConfig
}

// RecorderConfig configures a Recorder.
type RecorderConfig struct {
	// Store is where entries go; the node's cached view, so that its own
	// intake sees a new entry at once.
	Store interface {
		GetSuppression(ctx context.Context, account, address string) (*Entry, error)
		PutSuppression(ctx context.Context, e *Entry) error
	}
	// TTL is how long an entry lasts (suppression.ttl); it must be positive.
	TTL    time.Duration
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
	// OnSuppressed, if set, is called for each entry added (a metric).
	OnSuppressed func()
}

// NewRecorder returns a Recorder.
func NewRecorder(cfg RecorderConfig) *Recorder {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Recorder{cfg: cfg}
}

// OnFinal suppresses the recipient of a delivery that Suppresses says so
// of, for its account, for the TTL. An entry that already lasts longer
// (an admin's without expiry) is kept as it is. A store error is logged:
// the next bounce to the address tries again.
func (rc *Recorder) OnFinal(ctx context.Context, l *queue.Lease, o queue.Outcome, r queue.Result) {
	if !Suppresses(l, o, r) {
		return
	}
	// The bounce is recorded: this must happen even at shutdown.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := rc.cfg.Now()
	e := &Entry{
		Account: l.Account, Address: l.Recipient, Reason: ReasonBadMailbox, Reply: o.Attempt.Response,
		MessageID: l.MessageID, Created: now, Expires: now.Add(rc.cfg.TTL),
	}
	old, err := rc.cfg.Store.GetSuppression(ctx, e.Account, e.Address)
	if err == nil && old.Active(now) && (old.Expires.IsZero() || old.Expires.After(e.Expires)) {
		return
	}
	if err := rc.cfg.Store.PutSuppression(ctx, e); err != nil {
		rc.cfg.Logger.ErrorContext(ctx, "suppression: add", "account", e.Account, "rcpt", e.Address,
			"msgid", e.MessageID, "err", err)
		return
	}
	rc.cfg.Logger.InfoContext(ctx, "suppressed", "account", e.Account, "rcpt", e.Address,
		"msgid", e.MessageID, "reply", e.Reply, "until", e.Expires)
	if rc.cfg.OnSuppressed != nil {
		rc.cfg.OnSuppressed()
	}
}
