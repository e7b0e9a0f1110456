package suppression

import (
	"context"
	"log/slog"
	"time"
)

// Sweeper deletes expired entries now and then: FerretDB has no TTL
// indexes, and an expired entry, though it refuses nothing (Entry.Active),
// would stay for good. Every node may run one.
type Sweeper struct {
	cfg SweeperConfig
}

// SweeperConfig configures a Sweeper.
type SweeperConfig struct {
	Store interface {
		PurgeSuppressions(ctx context.Context, before time.Time, limit int) (int, error)
	}
	// Interval is the time between sweeps; Batch how many entries one
	// purge call deletes at most (a sweep calls it until it returns fewer).
	// Both must be positive.
	Interval time.Duration
	Batch    int
	Now      func() time.Time // nil: time.Now
	Logger   *slog.Logger     // nil: discard
}

// NewSweeper returns a Sweeper.
func NewSweeper(cfg SweeperConfig) *Sweeper {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{cfg: cfg}
}

// Run sweeps at once, then every Interval, until ctx ends.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Error("suppression: purge of expired entries", "purged", n, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep deletes every entry expired by now, in batches, and returns how
// many went. It stops at the first error.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	before := s.cfg.Now()
	total := 0
	for {
		n, err := s.cfg.Store.PurgeSuppressions(ctx, before, s.cfg.Batch)
		total += n
		if err != nil || n < s.cfg.Batch {
			if total > 0 {
				s.cfg.Logger.Info("suppression: expired entries purged", "purged", total)
			}
			return total, err
		}
	}
}
