package main

import (
	"cmp"
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
	dnsbl   *pool.DNSBLWatch // nil without pool.dnsbl
	warmup  *pool.Warmup     // caps of the IPs in warm-up
	pacer   *pool.Pacer      // paces after rate-limit replies
}

// newPool builds the pool from the config, with suspensions tracked in st
// and, when zones are configured, the DNSBL watch of its own IPs.
func newPool(cfg *config.Config, st state.State, resolver dns.Resolver, m *metrics.Metrics, held pool.HeldCounter,
	paces pool.PaceGauge, hooks trackerHooks, logger *slog.Logger) poolParts {
	var ips []pool.IP
	var warming []pool.WarmIP
	for _, ip := range cfg.PoolIPs() {
		var addr netip.Addr
		if ip.Address != "" {
			addr = netip.MustParseAddr(ip.Address) // validated by config
		}
		ips = append(ips, pool.IP{Addr: addr, EHLO: ip.EHLO, Weight: ip.Weight})
		if ip.WarmupStart != "" {
			warming = append(warming, warmIP(cfg, addr, ip))
		}
	}
	warmup := pool.NewWarmup(pool.WarmupConfig{State: st, IPs: warming, Held: held, Stall: cfg.Pool.WarmupStall,
		Logger: logger.With("part", "warmup")})
	pacer := pool.NewPacer(pool.PaceConfig{
		State:   st,
		Window:  cfg.Pool.PaceWindow.D(),
		Step:    cfg.Pool.PaceStep.D(),
		Hold:    cfg.Pool.PaceHold.D(),
		MinRate: cfg.Pool.PaceMinRate,
		Tick:    config.QueuePoll,
		Conns:   cfg.Delivery.MaxConnectionsPerIPProvider,
		Gauge:   paces,
		Logger:  logger.With("part", "pace"),
	})
	tracker := pool.NewTracker(pool.TrackerConfig{
		State:      st,
		SuspendFor: cfg.Pool.SuspendFor.D(),
		Gauge:      m,
		Logger:     logger.With("part", "pool"),

		OnSuspended: hooks.suspended,
		OnResumed:   hooks.resumed,
	})
	pc := pool.Config{IPs: ips, Tracker: tracker, Pacer: pacer}
	if len(warming) > 0 {
		pc.Warmup = warmup // a warm pool asks no warm-up, as before
	}
	p := poolParts{pool: pool.New(pc), tracker: tracker, warmup: warmup, pacer: pacer}
	if len(cfg.Pool.DNSBL) > 0 {
		p.dnsbl = pool.NewDNSBLWatch(pool.DNSBLWatchConfig{
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
	if err := p.pacer.Refresh(ctx); err != nil {
		logger.Warn("reading IP paces", "err", err)
	}
	if err := p.warmup.Refresh(ctx); err != nil {
		logger.Warn("reading IP warm-up stand-stills", "err", err)
	}
	done := make(chan struct{}, 3)
	n := 2
	go func() { p.tracker.Run(ctx); done <- struct{}{} }()
	go func() { p.pacer.Run(ctx); done <- struct{}{} }()
	if p.dnsbl != nil {
		n++
		go func() { p.dnsbl.Run(ctx); done <- struct{}{} }()
	}
	return func() {
		for range n {
			<-done
		}
	}
}

// warmIP is ip's warm-up as the pool takes it (config validated it).
func warmIP(cfg *config.Config, addr netip.Addr, ip config.PoolIP) pool.WarmIP {
	start, _ := config.WarmupStart(ip.WarmupStart)
	name := cmp.Or(ip.Warmup, config.DefaultWarmup)
	s, _ := cfg.Warmup(name)
	caps := make(map[string]pool.Cap, len(s.Caps))
	for p, c := range s.Caps {
		caps[p] = pool.Cap{Start: c.Start, Max: c.Max}
	}
	return pool.WarmIP{Addr: addr, Start: start, Name: name,
		Schedule: pool.Schedule{Days: s.Days, Growth: s.Growth, Caps: caps}}
}
