package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"sendpool/internal/api"
	"sendpool/internal/config"
	"sendpool/internal/intake"
	"sendpool/internal/lookup"
	"sendpool/internal/metrics"
	"sendpool/internal/queue"
	"sendpool/internal/suppression"
)

// suppressions are the parts of the per-account suppression lists
// ([suppression]): the node's cached view of the lists, the intake check,
// the scheduler hook that fills them and the sweeper that empties them.
type suppressions struct {
	list  suppression.Store     // nil when the store keeps no lists
	check *suppression.Check    // nil when suppression.ttl is 0
	rec   *suppression.Recorder // nil when suppression.ttl is 0
	m     *metrics.Suppression
	stop  func() error
}

// startSuppression wires the lists over raw, the store as opened (the
// lookup cache's wrapping hides what else it keeps): reads go through a
// cache of server.lookup_cache_ttl whose writes forget, so a removal
// through this node's API applies to its very next message. The sweeper
// runs until ctx ends or stop is called.
func startSuppression(ctx context.Context, cfg *config.Config, raw store, reg *prometheus.Registry, logger *slog.Logger) *suppressions {
	s := &suppressions{m: metrics.NewSuppression(reg), stop: func() error { return nil }}
	st, ok := raw.(suppression.Store)
	if !ok {
		logger.Warn("suppression: the store keeps no lists: nothing is suppressed", "store", cfg.Store.Backend)
		return s
	}
	s.list = lookup.NewSuppressions(st, cfg.Server.LookupCacheTTL.D(), nil)
	sw := suppression.NewSweeper(suppression.SweeperConfig{Store: st, Interval: config.SuppressionSweepInterval,
		Batch: config.SuppressionSweepBatch, Logger: logger})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); sw.Run(sctx) }()
	s.stop = func() error { cancel(); <-done; return nil }
	ttl := cfg.Suppression.TTL.D()
	if ttl <= 0 {
		logger.Info("suppression off (suppression.ttl = 0): nothing is added, no recipient refused")
		return s
	}
	s.check = suppression.NewCheck(suppression.CheckConfig{Store: s.list, Logger: logger, OnRefused: s.m.Refused})
	s.rec = suppression.NewRecorder(suppression.RecorderConfig{Store: s.list, TTL: ttl, Logger: logger,
		OnSuppressed: func() { s.m.Suppressed("bounce") }})
	return s
}

// checks puts the suppression check in front of list: it is the cheapest,
// and a refused recipient then costs no scan and no volume limit.
func (s *suppressions) checks(list []intake.Check) []intake.Check {
	if s.check == nil {
		return list
	}
	return append([]intake.Check{s.check}, list...)
}

// onFinal is the scheduler hook that adds entries; nil when off.
func (s *suppressions) onFinal() func(context.Context, *queue.Lease, queue.Outcome, queue.Result) {
	if s.rec == nil {
		return nil
	}
	return s.rec.OnFinal
}

// routes serves the API's suppression routes; nil without lists.
func (s *suppressions) routes() *api.Suppressions {
	if s.list == nil {
		return nil
	}
	return &api.Suppressions{Store: s.list, OnAdded: func() { s.m.Suppressed("admin") }}
}

// panel is what the control panel lists and removes; nil without lists.
func (s *suppressions) panel() api.SuppressionList {
	if s.list == nil {
		return nil
	}
	return s.list
}
