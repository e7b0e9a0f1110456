package webhook

import (
	"context"
	"log/slog"
	"time"
)

// JanitorConfig configures a Janitor. Every duration is given (config
// keeps the defaults).
type JanitorConfig struct {
	Store Store
	// Retention is how long events stay in the feed (webhook.retention);
	// RetryFor how long a send is tried (webhook.retry_for).
	Retention time.Duration
	RetryFor  time.Duration
	// Interval is how often Repair runs; sends are given up and events
	// purged every Sweep.
	Interval time.Duration
	Sweep    time.Duration
	// Batch bounds one store call.
	Batch   int
	Now     func() time.Time // nil: time.Now
	Logger  *slog.Logger     // nil: discard
	Metrics Metrics          // nil: none
}

// Janitor keeps the outbox tidy on every node: it repairs appends a crash
// cut short (so the feed does not wait on them), gives up sends older than
// RetryFor (those of a disabled endpoint) and purges events older than
// Retention. Nodes doing it at once do no harm.
type Janitor struct {
	cfg JanitorConfig
	log *slog.Logger
}

// NewJanitor returns a Janitor.
func NewJanitor(cfg JanitorConfig) *Janitor {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	return &Janitor{cfg: cfg, log: cfg.Logger}
}

// Run works until ctx ends.
func (j *Janitor) Run(ctx context.Context) {
	tick := time.NewTicker(j.cfg.Interval)
	defer tick.Stop()
	var swept time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := j.cfg.Store.Repair(ctx, j.cfg.Now()); err != nil && ctx.Err() == nil {
			j.log.Error("webhook: repair outbox", "err", err)
		}
		if time.Since(swept) >= j.cfg.Sweep {
			swept = time.Now()
			j.Sweep(ctx)
		}
	}
}

// Sweep gives up old sends and purges old events, a batch at a time.
func (j *Janitor) Sweep(ctx context.Context) {
	now := j.cfg.Now()
	gaveUp := j.drain(ctx, "give up sends", func() (int, error) {
		return j.cfg.Store.GiveUp(ctx, now.Add(-j.cfg.RetryFor), j.cfg.Batch)
	})
	for range gaveUp {
		j.cfg.Metrics.GaveUp()
	}
	if gaveUp > 0 {
		j.log.Warn("webhook sends given up", "sends", gaveUp, "older_than", j.cfg.RetryFor)
	}
	purged := j.drain(ctx, "purge events", func() (int, error) {
		return j.cfg.Store.PurgeEvents(ctx, now.Add(-j.cfg.Retention), j.cfg.Batch)
	})
	if purged > 0 {
		j.log.Info("webhook events purged", "events", purged, "older_than", j.cfg.Retention)
	}
}

// drain calls fn until it returns less than a batch, and adds it up.
func (j *Janitor) drain(ctx context.Context, what string, fn func() (int, error)) int {
	total := 0
	for ctx.Err() == nil {
		n, err := fn()
		total += n
		if err != nil {
			j.log.Error("webhook: "+what, "err", err)
			break
		}
		if n < j.cfg.Batch {
			break
		}
	}
	return total
}
