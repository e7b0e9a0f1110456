package main

import (
	"context"
	"fmt"
	"time"

	"sendpool/internal/bounce"
	"sendpool/internal/classify"
	"sendpool/internal/config"
	"sendpool/internal/deliver"
	"sendpool/internal/metrics"
	"sendpool/internal/queue"
)

// delivery starts the pool, the outbound TLS policies, the courier, the
// checks shared with intake, and the scheduler with what it tells of each
// outcome (DSNs, suppressions, counts, webhooks).
func (w *wiring) delivery(ctx context.Context) error {
	cfg, logger := w.cfg, w.logger
	// Retention: finished messages go store.retention after they finished.
	janitor := queue.NewJanitor(w.store, queue.JanitorConfig{Retention: cfg.Store.Retention.D(),
		Logger: logger, OnPurged: w.m.Purged})
	jctx, jcancel := context.WithCancel(ctx)
	jdone := make(chan struct{})
	go func() { defer close(jdone); janitor.Run(jctx) }()
	w.add(func() error { jcancel(); <-jdone; return nil })

	w.pp = newPool(cfg, w.shared, w.resolver, w.m, metrics.NewWarmup(w.reg), metrics.NewPace(w.reg), w.hooks.tracker(), logger)
	w.pool = w.pp.pool
	pctx, pcancel := context.WithCancel(ctx)
	pwait := w.pp.run(pctx, logger)
	w.add(func() error { pcancel(); pwait(); return nil })

	classifier, err := classify.New(nil)
	if err != nil {
		return fmt.Errorf("classify: %w", err)
	}
	// The TLS policies wake the scheduler and sign reports with the
	// domains, both started after them: hence the functions.
	w.otls, err = newOutboundTLS(cfg, w.shared, w.resolver, w.allowed, tlsHooks{queue: w.store,
		wake: func() { w.sched.Wake() }, domains: func() *domains { return w.domains }}, logger) // tls.go
	if err != nil {
		return err
	}
	w.courier = deliver.New(deliver.Config{
		Resolver:              w.otls.resolver,
		Pool:                  w.pool,
		Store:                 w.store,
		Classifier:            classifier,
		Provider:              classifier.Provider,
		Replies:               w.replies,
		MaxConnsPerMX:         cfg.Delivery.MaxConnectionsPerMX,
		MaxConnsPerIPProvider: cfg.Delivery.MaxConnectionsPerIPProvider,
		Port:                  cfg.Delivery.Port,
		AllowedNetworks:       w.allowed,
		ConnectTimeout:        cfg.Delivery.ConnectTimeout.D(),
		MessagesPerConnection: cfg.Delivery.MessagesPerConnection,
		Routes:                w.mxs.routes(),
		Logger:                logger,
		TLS:                   w.otls.policies,
		TLSReports:            w.otls.reportsOrNil(),
		RootCAs:               w.otls.roots,
	})
	// DSNs are queued like any message. Failure DSNs are stored before the
	// bounce is recorded (OnBounce), delay notices before the delivery is
	// marked notified (OnDelay), so no crash loses one. The notifier closes
	// after the scheduler stops.
	notifier := bounce.New(bounce.Config{
		Store:        w.store,
		Hostname:     cfg.Server.Hostname,
		MaxQueueTime: cfg.Delivery.MaxQueueTime.D(),
		Gather:       cfg.Delivery.DelayNoticeGather.D(),
		OnQueued:     func() { w.sched.Wake() },
		Logger:       logger,
	})
	w.add(notifier.Close)
	w.sup = startSuppression(ctx, cfg, w.raw, w.reg, logger) // suppression.go: per-account suppression lists
	w.add(w.sup.stop)
	w.checks = newChecks(cfg, w.store, w.shared, w.rec, w.hooks.held(), logger) // checks.go: scan, limits, protection
	w.counts = startStats(ctx, w.shared, w.store, logger)                       // stats.go: the panel's pictures
	w.add(w.counts.stop)

	retry := make([]time.Duration, len(cfg.Delivery.Retry))
	for i, d := range cfg.Delivery.Retry {
		retry[i] = d.D()
	}
	courier := observed{w.checks.gate(w.courier), w.m, metrics.NewTLS(w.reg), w.counts.rec, classifier.Provider}
	w.sched = queue.NewScheduler(w.store, courier, queue.SchedulerConfig{
		Owner:         nodeID(cfg),
		LeaseFor:      cfg.Delivery.LeaseFor.D(),
		MaxGroupTime:  cfg.Delivery.MaxGroupTime.D(),
		Workers:       cfg.Delivery.Workers,
		PerConnection: cfg.Delivery.MessagesPerConnection,
		Poll:          config.QueuePoll,
		Retry:         retry,
		Logger:        logger,
		OnBounce:      notifier.Bounce,
		OnFinal:       w.counts.onFinal(w.checks.onFinal(w.sup.onFinal())),
		DelayNotice:   cfg.Delivery.DelayNotice.D(),
		OnDelay:       notifier.Delayed,
		OnOutcomes:    w.hooks.outcomes(), // webhooks: each outcome's event before it is recorded
	})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.sched.Run(sctx); err != nil {
			logger.Error("scheduler", "err", err)
		}
	}()
	w.add(func() error { cancel(); <-done; return nil })
	return nil
}
