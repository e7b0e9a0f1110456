package main

import (
	"context"
	"log/slog"
	"net/netip"

	"sendpool/internal/config"
	"sendpool/internal/dns"
	"sendpool/internal/metrics"
	"sendpool/internal/pool"
	"sendpool/internal/state"
)

// poolParts are the sending pool and what keeps it healthy.
type poolParts struct {
	pool    *pool.Pool
	tracker *pool.Tracker
	checker *pool.Checker // nil without pool.dnsbl
}

// newPool builds the pool from the config, with suspensions tracked in st
// and, when zones are configured, the DNSBL checker of its own IPs.
func newPool(cfg *config.Config, st state.State, resolver dns.Resolver, m *metrics.Metrics, logger *slog.Logger) poolParts {
	var ips []pool.IP
	for _, ip := range cfg.PoolIPs() {
		var addr netip.Addr
		if ip.Address != "" {
			addr = netip.MustParseAddr(ip.Address) // validated by config
		}
		ips = append(ips, pool.IP{Addr: addr, EHLO: ip.EHLO, Weight: ip.Weight})
	}
	tracker := pool.NewTracker(pool.TrackerConfig{
		State:      st,
		SuspendFor: cfg.Pool.SuspendFor.D(),
		Gauge:      m,
		Logger:     logger.With("part", "pool"),
	})
	p := poolParts{pool: pool.New(ips, tracker, nil), tracker: tracker}
	if len(cfg.Pool.DNSBL) > 0 {
		p.checker = pool.NewChecker(pool.CheckerConfig{
			Resolver: resolver,
			Zones:    cfg.Pool.DNSBL,
			IPs:      ips,
			Tracker:  tracker,
			Interval: cfg.Pool.DNSBLInterval.D(),
			Cooldown: cfg.Pool.DNSBLCooldown.D(),
			Logger:   logger.With("part", "dnsbl"),
		})
	}
	return p
}

// run keeps the suspension snapshot fresh and checks the DNSBLs until ctx
// ends. The first snapshot is read before it returns, so the first picks
// already honour suspensions made before this node started.
func (p poolParts) run(ctx context.Context, logger *slog.Logger) (wait func()) {
	if err := p.tracker.Refresh(ctx); err != nil {
		logger.Warn("reading IP suspensions", "err", err)
	}
	done := make(chan struct{}, 2)
	n := 1
	go func() { p.tracker.Run(ctx); done <- struct{}{} }()
	if p.checker != nil {
		n++
		go func() { p.checker.Run(ctx); done <- struct{}{} }()
	}
	return func() {
		for range n {
			<-done
		}
	}
}
