// Package limit enforces the volume limits of accounts (SPEC §3): messages
// and recipients per minute, hour and day per account, and messages per
// hour and day per envelope sender address. The counts live in state.State,
// whose windows are exact (a log of event times), so no burst gets through
// at a window's boundary, and several nodes sharing Redis share the counts.
//
// A message is counted once, when intake accepts it (Check, an atomic
// state.Take). Before that, at RCPT, CheckEnvelope only looks, so that a
// client learns early that it is over a limit and nothing is counted twice.
// A refusal is temporary: the client keeps the message and retries, so a
// limit never drops mail that was accepted.
package limit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/intake"
	"sendpool/internal/state"
)

// Config is what a Limiter needs.
type Config struct {
	State  state.State
	Now    func() time.Time // nil: time.Now; tests pass a fake clock
	Logger *slog.Logger     // nil: discard
}

// Limiter is the intake.Check of volume limits.
type Limiter struct {
	st  state.State
	now func() time.Time
	log *slog.Logger
}

var (
	_ intake.Check         = (*Limiter)(nil)
	_ intake.EnvelopeCheck = (*Limiter)(nil)
)

// New returns a Limiter.
func New(cfg Config) *Limiter {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Limiter{st: cfg.State, now: cfg.Now, log: cfg.Logger}
}

// Name implements intake.Check.
func (l *Limiter) Name() string { return "limit" }

// counter is one thing counted against a set of windows.
type counter struct {
	key     string
	n       int
	windows []state.Window
	what    string // "messages", "recipients", "messages from a@b"
	rcpt    bool   // refused with 452 4.5.3 rather than 451 4.7.1
}

// counters are what a message of account a from from to n recipients
// counts against; those without any limit are left out.
func counters(a *account.Account, from string, n int) []counter {
	lim := a.Limits
	var out []counter
	add := func(c counter, perMinute, perHour, perDay int) {
		for _, w := range []state.Window{{Size: time.Minute, Max: perMinute}, {Size: time.Hour, Max: perHour}, {Size: 24 * time.Hour, Max: perDay}} {
			if w.Max > 0 {
				c.windows = append(c.windows, w)
			}
		}
		if len(c.windows) > 0 {
			out = append(out, c)
		}
	}
	add(counter{key: "limit:msg:" + a.Name, n: 1, what: "messages"}, lim.PerMinute, lim.PerHour, lim.PerDay)
	add(counter{key: "limit:rcpt:" + a.Name, n: n, what: "recipients", rcpt: true}, lim.RcptPerMinute, lim.RcptPerHour, lim.RcptPerDay)
	sender := strings.ToLower(from)
	if sender == "" {
		sender = "<>"
	}
	add(counter{key: "limit:from:" + a.Name + ":" + sender, n: 1, what: "messages from " + sender},
		0, lim.SenderPerHour, lim.SenderPerDay)
	return out
}

// CheckEnvelope implements intake.EnvelopeCheck: would one more message to
// these recipients fit? It counts nothing.
func (l *Limiter) CheckEnvelope(ctx context.Context, a *account.Account, from string, to []string) error {
	now := l.now()
	for _, c := range counters(a, from, len(to)) {
		d, err := l.probe(ctx, c, now)
		if err != nil {
			return err
		}
		if !d.Allowed {
			return l.refusal(a, c, d, now)
		}
	}
	return nil
}

// Check implements intake.Check: it counts the message against every limit
// of its account, or refuses it. Every counter is looked at first, so that
// a refusal by a later one rarely leaves an earlier one counted; only
// another submission of the same account racing in between can, and then
// the count errs on the side of the limit.
func (l *Limiter) Check(ctx context.Context, sub *intake.Submission) error {
	now := l.now()
	cs := counters(sub.Account, sub.From, len(sub.To))
	for _, c := range cs {
		d, err := l.probe(ctx, c, now)
		if err != nil {
			return err
		}
		if !d.Allowed {
			return l.refusal(sub.Account, c, d, now)
		}
	}
	for _, c := range cs {
		d, err := l.st.Take(ctx, c.key, c.n, now, c.windows)
		if err != nil {
			return intake.LocalError(l.Name(), fmt.Sprintf("take %s: %v", c.key, err))
		}
		if !d.Allowed {
			return l.refusal(sub.Account, c, d, now)
		}
	}
	return nil
}

// probeWindow is appended to a counter's windows to look without counting:
// state.Take checks windows in order and records nothing when one refuses,
// and this one (at most 0 events) always refuses. A refusal by it means
// every real window had room; a refusal by another is the real answer,
// with when it frees.
var probeWindow = state.Window{Size: time.Nanosecond, Max: 0}

func (l *Limiter) probe(ctx context.Context, c counter, now time.Time) (state.Decision, error) {
	ws := append(append(make([]state.Window, 0, len(c.windows)+1), c.windows...), probeWindow)
	d, err := l.st.Take(ctx, c.key, c.n, now, ws)
	if err != nil {
		return d, intake.LocalError(l.Name(), fmt.Sprintf("probe %s: %v", c.key, err))
	}
	if d.Allowed {
		// A State that ignored the probe window counted the message: say
		// so loudly rather than count twice in silence.
		return d, intake.LocalError(l.Name(), "state backend recorded a probe: windows not checked in order")
	}
	if d.Window == probeWindow {
		return state.Decision{Allowed: true}, nil
	}
	return d, nil
}

// refusal is the reply to a refused counter: which limit, and when it frees
// (rounded up to the second, so a retry then fits).
func (l *Limiter) refusal(a *account.Account, c counter, d state.Decision, now time.Time) error {
	frees := d.Frees
	if frees.IsZero() {
		frees = now.Add(d.Window.Size)
	}
	frees = frees.UTC().Add(time.Second - 1).Truncate(time.Second)
	text := fmt.Sprintf("%s limit of %d %s reached; frees at %s",
		windowName(d.Window.Size), d.Window.Max, c.what, frees.Format(time.RFC3339))
	detail := fmt.Sprintf("account %s: %d of %d in %s, %d more asked", a.Name, d.Count, d.Window.Max, d.Window.Size, c.n)
	l.log.Info("limit reached", "account", a.Name, "limit", c.what, "window", d.Window.Size.String(),
		"max", d.Window.Max, "count", d.Count, "frees", frees)
	if c.rcpt {
		return intake.RecipientLimitReached(l.Name(), text, detail)
	}
	return intake.LimitReached(l.Name(), text, detail)
}

// windowName names a window as the account's limits do.
func windowName(d time.Duration) string {
	switch d {
	case time.Minute:
		return "per-minute"
	case time.Hour:
		return "per-hour"
	case 24 * time.Hour:
		return "per-day"
	}
	return "per-" + d.String()
}

// Use is one volume limit of an account and what counts against it now.
type Use struct {
	What   string        // "messages" or "recipients"
	Window time.Duration // a minute, an hour or a day
	Used   int
	Max    int
}

// Usage returns the account's message and recipient limits with the
// counts every node shares (the control panel's usage). The per-sender
// limits are left out: they count each sender address on its own.
func (l *Limiter) Usage(ctx context.Context, a *account.Account) ([]Use, error) {
	now := l.now()
	var out []Use
	for _, c := range counters(a, "", 0) {
		if c.key != "limit:msg:"+a.Name && c.key != "limit:rcpt:"+a.Name {
			continue
		}
		for _, w := range c.windows {
			n, err := l.st.Count(ctx, c.key, now, w.Size)
			if err != nil {
				return nil, fmt.Errorf("limit: usage of %s: %w", a.Name, err)
			}
			out = append(out, Use{What: c.what, Window: w.Size, Used: n, Max: w.Max})
		}
	}
	return out, nil
}
