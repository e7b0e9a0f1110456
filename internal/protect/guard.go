package protect

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/queue"
)

// statusTTL is how stale an account's status may be when the Guard looks:
// a hold or suspension stops deliveries within it.
const statusTTL = time.Second

// GuardConfig configures a Guard.
type GuardConfig struct {
	Accounts account.Store
	Queue    queue.Store
	Now      func() time.Time // nil: time.Now
	Logger   *slog.Logger     // nil: discard
}

// Guard wraps the courier: a leased delivery whose account is held or
// suspended is not attempted; the account's unfinished deliveries are held
// instead (queue.Store.HoldAccount, which also ends the lease, so the
// scheduler's report of it is refused as lease lost) until the account is
// released. Mail of an account that no longer exists, or whose status
// cannot be read, goes out: the Guard protects, it never loses mail.
type Guard struct {
	queue.Courier
	cfg GuardConfig
	log *slog.Logger

	mu    sync.Mutex
	cache map[string]cachedStatus
}

type cachedStatus struct {
	status account.Status
	at     time.Time
}

// NewGuard wraps c.
func NewGuard(c queue.Courier, cfg GuardConfig) *Guard {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Guard{Courier: c, cfg: cfg, log: cfg.Logger, cache: map[string]cachedStatus{}}
}

// Deliver implements queue.Courier.
func (g *Guard) Deliver(ctx context.Context, group []*queue.Lease) []queue.Result {
	results := make([]queue.Result, len(group))
	var pass []*queue.Lease
	var idx []int
	held := map[string]bool{}
	for i, l := range group {
		if l.Account != "" && g.blocked(ctx, l.Account) {
			held[l.Account] = true
			results[i] = queue.Result{Verdict: queue.VerdictDeferred, Attempt: queue.Attempt{Response: "account " + l.Account + " is on hold"}}
			continue
		}
		pass = append(pass, l)
		idx = append(idx, i)
	}
	for acct := range held {
		n, err := g.cfg.Queue.HoldAccount(ctx, acct)
		if err != nil {
			g.log.ErrorContext(ctx, "guard: hold account's mail", "account", acct, "err", err)
			continue
		}
		g.log.InfoContext(ctx, "mail of an account on hold kept back", "account", acct, "deliveries", n)
	}
	if len(pass) > 0 {
		rs := g.Courier.Deliver(ctx, pass)
		for j, i := range idx {
			if j < len(rs) {
				results[i] = rs[j]
			} else {
				results[i] = queue.Result{Verdict: queue.VerdictDeferred, Attempt: queue.Attempt{Response: "no result from courier"}}
			}
		}
	}
	return results
}

// blocked reports whether acct is held or suspended, from a cache at most
// statusTTL old.
func (g *Guard) blocked(ctx context.Context, acct string) bool {
	now := g.cfg.Now()
	g.mu.Lock()
	c, ok := g.cache[acct]
	g.mu.Unlock()
	if !ok || now.Sub(c.at) >= statusTTL || now.Before(c.at) {
		a, err := g.cfg.Accounts.GetAccount(ctx, acct)
		switch {
		case errors.Is(err, account.ErrNotFound):
			c = cachedStatus{status: account.StatusActive, at: now}
		case err != nil:
			g.log.WarnContext(ctx, "guard: get account", "account", acct, "err", err)
			return false
		default:
			c = cachedStatus{status: a.Status, at: now}
		}
		g.mu.Lock()
		if len(g.cache) > 100000 {
			clear(g.cache)
		}
		g.cache[acct] = c
		g.mu.Unlock()
	}
	return c.status == account.StatusHeld || c.status == account.StatusSuspended
}
