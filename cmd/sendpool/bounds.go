package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"sendpool/internal/config"
	"sendpool/internal/diskspace"
	"sendpool/internal/health"
	"sendpool/internal/smtpd"
	"sendpool/internal/state"
	"sendpool/internal/store/sqlite"
)

// newSpace watches data_dir's free space for the embedded store
// (store.min_free_space); nil (no check) with MongoDB, whose disk is its
// server's, or with the check off.
func newSpace(cfg *config.Config, logger *slog.Logger) *diskspace.Guard {
	if cfg.Store.Backend != "sqlite" || cfg.Store.MinFreeSpace <= 0 {
		return nil
	}
	return diskspace.New(diskspace.Config{
		Dir:     cfg.Server.DataDir,
		MinFree: int64(cfg.Store.MinFreeSpace),
		Reserve: cfg.Store.SpaceReserve(),
		Every:   config.SpaceCheckEvery,
		Logger:  logger,
	})
}

// checkIntegrity runs the embedded store's quick_check before serve
// starts, for up to config.IntegrityCheckBudget: a corrupt file stops
// serve, naming it. A bigger file (quick_check reads every page: about 15
// s per GB from a cold disk) is checked on in the background, and a
// corruption found then fails /healthz. stop ends that check; it must run
// before the store is closed.
func checkIntegrity(ctx context.Context, st *sqlite.Store, logger *slog.Logger) (stop func() error, err error) {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, config.IntegrityCheckBudget)
	err = st.CheckIntegrity(cctx)
	cancel()
	switch {
	case err == nil:
		logger.Info("store integrity checked", "file", st.Path(), "took", time.Since(start).Round(time.Millisecond))
		return func() error { return nil }, nil
	case errors.Is(err, sqlite.ErrCorrupt):
		return nil, corruptStore(st.Path(), err)
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case !errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("store: %s: integrity check: %w", st.Path(), err)
	}
	logger.Info("store integrity check goes on in the background (a big file)", "file", st.Path(),
		"budget", config.IntegrityCheckBudget)
	bctx, bcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		switch err := st.CheckIntegrity(bctx); {
		case err == nil:
			logger.Info("store integrity checked", "file", st.Path(), "took", time.Since(start).Round(time.Millisecond))
		case errors.Is(err, sqlite.ErrCorrupt):
			// The store now fails its probe: /healthz says so, and the
			// store logged the findings.
		case bctx.Err() == nil:
			logger.Warn("store integrity check failed", "file", st.Path(), "err", err)
		}
	}()
	return func() error { bcancel(); <-done; return nil }, nil
}

// corruptStore is the error that stops serve on a damaged database file.
func corruptStore(path string, err error) error {
	return fmt.Errorf("store: the database file %s is corrupt (%v): restore it from a backup "+
		"(sendpool backup), or move it away to start with an empty queue", path, err)
}

// prober is what the health check asks of the store: both stores write a
// row (document) of their own per node.
type prober interface {
	Probe(ctx context.Context, node string) error
}

// newHealth is /healthz: a write to the store and to the shared state,
// and the disk's free space with the embedded store.
func newHealth(cfg *config.Config, st prober, shared state.State, space *diskspace.Guard, logger *slog.Logger) *health.Checker {
	node := nodeID(cfg)
	probes := []health.Probe{
		{Name: "store", Failed: "write failed", Check: func(ctx context.Context) error {
			err := st.Probe(ctx, node)
			if errors.Is(err, sqlite.ErrCorrupt) {
				return fmt.Errorf("%w (%w)", health.Reason("database file corrupt"), err)
			}
			return err
		}},
		{Name: "state", Failed: "write failed", Check: func(ctx context.Context) error {
			return shared.Set(ctx, "health:"+node, []byte(time.Now().UTC().Format(time.RFC3339)), time.Minute)
		}},
	}
	if space != nil {
		probes = append(probes, health.Probe{Name: "disk", Check: func(context.Context) error {
			free, minFree, low, _ := space.Status()
			if low {
				return health.Reason(fmt.Sprintf("%d MB free, under store.min_free_space (%d MB): new mail refused",
					free>>20, minFree>>20))
			}
			return nil
		}})
	}
	return health.New(health.Config{Probes: probes, Timeout: config.HealthProbeTimeout,
		CacheFor: config.HealthCacheFor, Logger: logger})
}

// smtpBounds are [submission]'s bounds for the SMTP server.
func smtpBounds(cfg *config.Config) smtpd.Bounds {
	s := cfg.Submission.SubmissionBounds
	return smtpd.Bounds{
		MaxConnections:      s.MaxConnections,
		MaxConnectionsPerIP: s.MaxConnectionsPerIP,
		MaxHeaderSize:       int64(s.MaxHeaderSize),
		LoginTimeout:        s.LoginTimeout.D(),
		MaxJunkCommands:     s.MaxJunkCommands,
		MaxErrors:           s.MaxErrors,
	}
}
