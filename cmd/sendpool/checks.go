package main

import (
	"context"
	"log/slog"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/config"
	"sendpool/internal/deliver"
	"sendpool/internal/domain"
	"sendpool/internal/events"
	"sendpool/internal/history"
	"sendpool/internal/httpsend"
	"sendpool/internal/intake"
	"sendpool/internal/limit"
	"sendpool/internal/protect"
	"sendpool/internal/queue"
	"sendpool/internal/recipient"
	"sendpool/internal/scan"
	"sendpool/internal/spool"
	"sendpool/internal/state"
)

// checks are the intake checks of issue 4 and what watches their outcome:
// content scanning, volume limits, the compromised-account protector and
// the recent-events log the API shows.
type checks struct {
	list      []intake.Check
	observers []func(context.Context, intake.Decision)
	events    *events.Log
	protector *protect.Protector
	limiter   *limit.Limiter // the panel shows its counts (Usage)
	accounts  account.Store
	queue     queue.Store
	logger    *slog.Logger
}

// store is what the checks need of the store.
type store interface {
	account.Store
	queue.Store
	deliver.BodyOpener // a large body read in chunks (issue 13)
	domain.Store
	recipient.Store // inbound.recipients = "list"
}

// The events are every node's: they go to shared through rec.
func newChecks(cfg *config.Config, st store, shared state.State, rec *history.Recorder,
	onHeld func(context.Context, string, string), logger *slog.Logger) *checks {
	c := &checks{events: events.New(events.Config{State: shared, Recorder: rec}), accounts: st, queue: st, logger: logger}
	// Scan first, count last: a refused message costs no limit.
	c.limiter = limit.New(limit.Config{State: shared, Logger: logger})
	c.list = []intake.Check{
		scan.NewCheck(scan.CheckConfig{Scanners: scanners(cfg), RejectScore: cfg.Scan.SpamRejectScore,
			Fail: cfg.Scan.Fail, Timeout: cfg.Scan.Timeout.D(), Logger: logger}),
		c.limiter,
	}
	p := cfg.Protect
	c.protector = protect.New(protect.Config{
		Accounts: st, Queue: st, State: shared, Events: c.events, Logger: logger, OnHeld: onHeld,
		Thresholds: protect.Thresholds{
			VirusMax: p.VirusRejections, VirusWindow: p.VirusWindow.D(),
			SpamMax: p.SpamRejections, SpamWindow: p.SpamWindow.D(),
			BounceRate: p.BounceRate, BounceMin: p.BounceMinRecipients, BounceWindow: p.BounceWindow.D(),
			VolumeFactor: p.VolumeFactor, VolumeMin: p.VolumeMin,
		},
	})
	c.observers = []func(context.Context, intake.Decision){c.events.Observe, c.protector.Observe}
	return c
}

// scanners are the content scanners [scan] configures, for intake and
// the MX alike.
func scanners(cfg *config.Config) []scan.Scanner {
	out := []scan.Scanner{scan.Heuristics{}}
	if cfg.Scan.Clamd != "" {
		out = append(out, &scan.Clamd{Addr: cfg.Scan.Clamd})
	}
	if cfg.Scan.Rspamd != "" {
		out = append(out, &scan.Rspamd{URL: cfg.Scan.Rspamd})
	}
	return out
}

// gate keeps held and suspended accounts' mail from going out.
func (c *checks) gate(courier queue.Courier) queue.Courier {
	return protect.NewGate(courier, protect.GateConfig{Accounts: c.accounts, Queue: c.queue, Logger: c.logger})
}

// onFinal chains the protector's bounce counting after hook, if any (DSNs
// no longer go here: they are the scheduler's OnBounce).
func (c *checks) onFinal(hook func(context.Context, *queue.Lease, queue.Outcome, queue.Result)) func(context.Context, *queue.Lease, queue.Outcome, queue.Result) {
	return func(ctx context.Context, l *queue.Lease, o queue.Outcome, r queue.Result) {
		hook(ctx, l, o, r)
		c.protector.OnFinal(ctx, l, o, r)
	}
}

// send is POST /api/v1/send: the same intake as SMTP submission.
func (c *checks) send(cfg *config.Config, sv *intake.Service, guard api.AuthGuard, sp *spool.Dir) api.SendFunc {
	return httpsend.New(httpsend.Config{Intake: sv, Spool: sp,
		MaxMessageSize: int64(cfg.Submission.MaxMessageSize), MaxRecipients: cfg.Submission.MaxRecipients, Guard: guard})
}
