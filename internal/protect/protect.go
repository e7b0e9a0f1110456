// Package protect keeps one account from burning the pool: it watches each
// account's spam and virus refusals, its hard-bounce rate and its volume
// against its own recent baseline, and past a threshold holds the account
// (account.StatusHeld with the reason): new mail gets 451 4.7.1, its queued
// mail is held (queue.Store.HoldAccount), an event is logged and shown in
// the API, until an admin releases it.
//
// Guard (guard.go) is the other half: the courier wrapper that keeps the
// mail of a held or suspended account from going out even when it was
// queued before the hold.
package protect

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/events"
	"sendpool/internal/intake"
	"sendpool/internal/queue"
	"sendpool/internal/state"
)

// Thresholds say when an account is held. A zero count disables its rule.
type Thresholds struct {
	VirusMax    int           // virus refusals …
	VirusWindow time.Duration // … within this span
	SpamMax     int           // spam refusals …
	SpamWindow  time.Duration // … within this span
	// BounceRate is the share of hard bounces among at least BounceMin
	// final recipients within BounceWindow.
	BounceRate   float64
	BounceMin    int
	BounceWindow time.Duration
	// VolumeFactor: recipients in the last hour over this many times the
	// account's average hour of the day before, once at least VolumeMin.
	VolumeFactor float64
	VolumeMin    int
}

// DefaultThresholds are the defaults of the [protect] config section.
func DefaultThresholds() Thresholds {
	return Thresholds{
		VirusMax: 5, VirusWindow: 10 * time.Minute,
		SpamMax: 20, SpamWindow: 10 * time.Minute,
		BounceRate: 0.2, BounceMin: 50, BounceWindow: time.Hour,
		VolumeFactor: 10, VolumeMin: 500,
	}
}

// Config is what a Protector needs.
type Config struct {
	Accounts   account.Store
	Queue      queue.Store
	State      state.State
	Events     *events.Log // nil: none kept
	Thresholds Thresholds
	// OnHeld, if set, is told of each account this protector holds, after
	// the hold is stored (webhooks: account_held).
	OnHeld func(ctx context.Context, account, reason string)
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// Protector counts what each account does and holds it past a threshold.
type Protector struct {
	cfg Config
	th  Thresholds
	log *slog.Logger
}

// New returns a Protector.
func New(cfg Config) *Protector {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Protector{cfg: cfg, th: cfg.Thresholds, log: cfg.Logger}
}

// Keys of the counters in state.State.
func key(kind, acct string) string { return "protect:" + kind + ":" + acct }

// volumeKeep is how long volume events are kept: the baseline's day and
// the hour being measured.
const volumeKeep = 25 * time.Hour

// record adds n events under kind for acct, kept for keep.
func (p *Protector) record(ctx context.Context, kind, acct string, n int, now time.Time, keep time.Duration) {
	if n <= 0 {
		return
	}
	_, err := p.cfg.State.Take(ctx, key(kind, acct), n, now, []state.Window{{Size: keep, Max: math.MaxInt32}})
	if err != nil {
		p.log.WarnContext(ctx, "protect: record", "kind", kind, "account", acct, "err", err)
	}
}

// count returns the events of kind for acct in the window, counting only
// those after the account's last hold: what was counted against it then
// does not hold it again as soon as it is released.
func (p *Protector) count(ctx context.Context, kind, acct string, now time.Time, window time.Duration) (int, error) {
	if b, ok, err := p.cfg.State.Get(ctx, key("since", acct)); err == nil && ok {
		var since time.Time
		if since.UnmarshalText(b) == nil && now.Sub(since) < window {
			window = max(now.Sub(since), 0)
		}
	}
	if window <= 0 {
		return 0, nil
	}
	return p.cfg.State.Count(ctx, key(kind, acct), now, window)
}

// Observe is an intake observer (intake.Config.Observers): it counts spam
// and virus refusals and accepted volume, and holds the account past a
// threshold.
func (p *Protector) Observe(ctx context.Context, d intake.Decision) {
	if d.Account == "" {
		return
	}
	now := d.Time
	if now.IsZero() {
		now = p.cfg.Now()
	}
	if d.Err == nil {
		p.checkVolume(ctx, d.Account, d.Rcpts, now)
		return
	}
	if d.Err.Check != "scan" {
		return
	}
	switch d.Err.Code {
	case intake.CodeTransaction: // 554 5.7.1: a virus
		p.checkCount(ctx, "virus", d.Account, now, p.th.VirusMax, p.th.VirusWindow, "virus refusals")
	case intake.CodeRejected: // 550 5.7.1: spam
		p.checkCount(ctx, "spam", d.Account, now, p.th.SpamMax, p.th.SpamWindow, "spam refusals")
	}
}

func (p *Protector) checkCount(ctx context.Context, kind, acct string, now time.Time, maxN int, window time.Duration, what string) {
	if maxN <= 0 || window <= 0 {
		return
	}
	p.record(ctx, kind, acct, 1, now, window)
	n, err := p.count(ctx, kind, acct, now, window)
	if err != nil {
		p.log.WarnContext(ctx, "protect: count", "kind", kind, "account", acct, "err", err)
		return
	}
	if n >= maxN {
		p.hold(ctx, acct, fmt.Sprintf("%d %s in %s", n, what, window), now)
	}
}

func (p *Protector) checkVolume(ctx context.Context, acct string, rcpts int, now time.Time) {
	if p.th.VolumeFactor <= 0 || p.th.VolumeMin <= 0 {
		return
	}
	p.record(ctx, "volume", acct, rcpts, now, volumeKeep)
	seen, ok := p.firstSeen(ctx, acct, now)
	hour, err := p.count(ctx, "volume", acct, now, time.Hour)
	if err != nil || hour < p.th.VolumeMin {
		return
	}
	day, err := p.count(ctx, "volume", acct, now, volumeKeep)
	if err != nil {
		return
	}
	// An average hour of those before the last, over at most a day: an
	// account seen for less than an hour has no baseline yet (its limits
	// bound it), one seen for three hours is measured against those three.
	// (When the first-seen mark expired, older events mean a full day.)
	hours := 24.0
	switch {
	case !ok && day == hour, ok && now.Sub(seen) < time.Hour:
		return
	case ok:
		hours = min(max(now.Sub(seen).Hours()-1, 1), 24)
	}
	baseline := float64(day-hour) / hours
	if float64(hour) > p.th.VolumeFactor*baseline {
		p.hold(ctx, acct, fmt.Sprintf("%d recipients in the last hour, over %g times its usual %.1f", hour, p.th.VolumeFactor, baseline), now)
	}
}

// firstSeen returns when the account's volume was first recorded within
// the kept span, remembering now when it was not; ok is false then.
func (p *Protector) firstSeen(ctx context.Context, acct string, now time.Time) (time.Time, bool) {
	b, ok, err := p.cfg.State.Get(ctx, key("first", acct))
	var t time.Time
	if err == nil && ok && t.UnmarshalText(b) == nil {
		return t, true
	}
	v, _ := now.MarshalText()
	p.cfg.State.Set(ctx, key("first", acct), v, volumeKeep)
	return now, false
}

// OnFinal is a scheduler hook (queue.SchedulerConfig.OnFinal): it counts
// each account's final recipients and hard bounces (a permanent refusal,
// not an expiry), and holds an account whose bounce rate is over the
// threshold.
func (p *Protector) OnFinal(ctx context.Context, l *queue.Lease, o queue.Outcome, r queue.Result) {
	if l.Bounce || l.Account == "" || p.th.BounceMin <= 0 || p.th.BounceWindow <= 0 {
		return
	}
	now := p.cfg.Now()
	p.record(ctx, "final", l.Account, 1, now, p.th.BounceWindow)
	if o.Status != queue.StatusBounced || r.Verdict != queue.VerdictPermanent {
		return
	}
	p.record(ctx, "bounce", l.Account, 1, now, p.th.BounceWindow)
	final, err := p.count(ctx, "final", l.Account, now, p.th.BounceWindow)
	if err != nil || final < p.th.BounceMin {
		return
	}
	bounced, err := p.count(ctx, "bounce", l.Account, now, p.th.BounceWindow)
	if err != nil {
		return
	}
	if float64(bounced) > p.th.BounceRate*float64(final) {
		p.hold(ctx, l.Account, fmt.Sprintf("%d hard bounces of %d recipients in %s", bounced, final, p.th.BounceWindow), now)
	}
}

// hold holds an active account and its queued mail. An account already
// held or suspended is left as it is.
func (p *Protector) hold(ctx context.Context, acct, why string, now time.Time) {
	// The hold must happen even when the client that tripped it went away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	a, err := p.cfg.Accounts.GetAccount(ctx, acct)
	if err != nil {
		p.log.ErrorContext(ctx, "protect: get account to hold", "account", acct, "err", err)
		return
	}
	if a.Status != account.StatusActive {
		return
	}
	a.Status = account.StatusHeld
	a.Reason = fmt.Sprintf("held automatically at %s: %s", now.UTC().Format(time.RFC3339), why)
	if err := p.cfg.Accounts.UpdateAccount(ctx, a); err != nil {
		p.log.ErrorContext(ctx, "protect: hold account", "account", acct, "err", err)
		return
	}
	since, _ := now.MarshalText()
	if err := p.cfg.State.Set(ctx, key("since", acct), since, volumeKeep); err != nil {
		p.log.WarnContext(ctx, "protect: remember hold", "account", acct, "err", err)
	}
	n, err := p.cfg.Queue.HoldAccount(ctx, acct)
	if err != nil {
		// The Guard holds each delivery when it comes due.
		p.log.ErrorContext(ctx, "protect: hold queued mail", "account", acct, "err", err)
	}
	p.log.WarnContext(ctx, "account held", "account", acct, "reason", a.Reason, "deliveries_held", n)
	if p.cfg.Events != nil {
		p.cfg.Events.Add(events.Event{Time: now, Kind: events.KindHeld, Account: acct, Reason: a.Reason, Rcpts: n})
	}
	if p.cfg.OnHeld != nil {
		p.cfg.OnHeld(ctx, acct, a.Reason)
	}
}
