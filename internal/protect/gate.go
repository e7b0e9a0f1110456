package protect

import (
	"context"
	"errors"
	"log/slog"

	"sendpool/internal/account"
	"sendpool/internal/queue"
)

// GateConfig configures a Gate.
type GateConfig struct {
	// Accounts are read for each leased delivery: the node's read-through
	// cache (internal/lookup) serves them, so a hold or suspension stops
	// deliveries on this node at once and on the others within its TTL.
	Accounts account.Store
	Queue    queue.Store
	Logger   *slog.Logger // nil: discard
}

// Gate wraps the courier: a leased delivery whose account is held or
// suspended is not attempted; the account's unfinished deliveries are held
// instead (queue.Store.HoldAccount, which also ends the lease, so the
// scheduler's report of it is refused as lease lost) until the account is
// released. Mail of an account that no longer exists, or whose status
// cannot be read, goes out: the Gate protects, it never loses mail.
type Gate struct {
	queue.Courier
	cfg GateConfig
	log *slog.Logger
}

// NewGate wraps c.
func NewGate(c queue.Courier, cfg GateConfig) *Gate {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Gate{Courier: c, cfg: cfg, log: cfg.Logger}
}

// Deliver implements queue.Courier.
func (g *Gate) Deliver(ctx context.Context, group []*queue.Lease) []queue.Result {
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
			g.log.ErrorContext(ctx, "gate: hold account's mail", "account", acct, "err", err)
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

// blocked reports whether acct is held or suspended.
func (g *Gate) blocked(ctx context.Context, acct string) bool {
	a, err := g.cfg.Accounts.GetAccount(ctx, acct)
	switch {
	case errors.Is(err, account.ErrNotFound):
		return false
	case err != nil:
		g.log.WarnContext(ctx, "gate: get account", "account", acct, "err", err)
		return false
	}
	return a.Status == account.StatusHeld || a.Status == account.StatusSuspended
}
