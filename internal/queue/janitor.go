package queue

import (
	"context"
	"log/slog"
	"time"
)

// Purger is what the janitor needs of a Store.
type Purger interface {
	Purge(ctx context.Context, before time.Time, limit int) (int, error)
}

// JanitorConfig configures a Janitor.
type JanitorConfig struct {
	// Retention is how long a finished message is kept (store.retention);
	// 0 keeps every message for good and the janitor does nothing.
	Retention time.Duration
	// Interval is the time between sweeps; default 5 minutes.
	Interval time.Duration
	// Batch is how many messages one Purge call deletes at most; default
	// 1000. A sweep calls Purge until it returns fewer.
	Batch  int
	Now    func() time.Time
	Logger *slog.Logger
	// OnPurged, if set, is told how many messages each Purge call deleted
	// (a metric).
	OnPurged func(n int)
}

// Janitor deletes finished messages once they are older than the
// retention, so that a relay moving millions of messages a day does not
// keep them all. Every node may run one: Purge is safe when several run at
// once.
type Janitor struct {
	store Purger
	cfg   JanitorConfig
}

// NewJanitor returns a janitor; zero config fields get defaults.
func NewJanitor(store Purger, cfg JanitorConfig) *Janitor {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Minute
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 1000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Janitor{store: store, cfg: cfg}
}

// Run sweeps at once, then every Interval, until ctx ends.
func (j *Janitor) Run(ctx context.Context) {
	if j.cfg.Retention <= 0 {
		return
	}
	t := time.NewTicker(j.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := j.Sweep(ctx); err != nil && ctx.Err() == nil {
			j.cfg.Logger.Error("purge of finished messages", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep purges, in batches, every message finished before now-Retention
// and returns how many went. It stops at the first error, keeping what
// the batches before it did.
func (j *Janitor) Sweep(ctx context.Context) (int, error) {
	if j.cfg.Retention <= 0 {
		return 0, nil
	}
	start := j.cfg.Now()
	before := start.Add(-j.cfg.Retention)
	total := 0
	var err error
	for ctx.Err() == nil {
		var n int
		n, err = j.store.Purge(ctx, before, j.cfg.Batch)
		total += n
		if n > 0 && j.cfg.OnPurged != nil {
			j.cfg.OnPurged(n)
		}
		if err != nil || n < j.cfg.Batch {
			break
		}
	}
	if total > 0 {
		j.cfg.Logger.Info("purged finished messages", "messages", total,
			"finished_before", before, "duration", j.cfg.Now().Sub(start))
	}
	return total, err
}
