package main

import (
	"context"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/clientip"
	"sendpool/internal/ipadmin"
	"sendpool/internal/web"
)

// http serves the API and, beside it, the control panel (SPEC §6), behind
// the admin token and the Host/Origin shield.
func (w *wiring) http() error {
	cfg, logger := w.cfg, w.logger
	var err error
	if w.token, err = adminToken(cfg, logger); err != nil { // token.go
		return err
	}
	ips := ipadmin.New(w.pool, w.pp.tracker, nil).WithWarmup(w.pp.warmup).WithPacer(w.pp.pacer)
	h := api.New(api.Config{
		Queue:    w.store,
		Accounts: w.store,
		IPs:      ips,
		Token:    w.token,
		Gatherer: w.reg,
		Logger:   logger,
		Pprof:    cfg.HTTP.Pprof,
		Events:   w.checks.events,
		Send:     w.checks.send(cfg, w.intake, w.guard, w.spool),
		Guard:    w.guard,
		Domains:  w.domains.api,
		Replies:  w.replies,

		Suppressions: w.sup.routes(),
		Inbound:      w.mxs.api(w.store, cfg.Inbound.DecisionsKept),
		Health:       newHealth(cfg, w.raw.(prober), w.shared, w.space, logger).Check, // bounds.go
		Webhooks:     w.hooks.routes(),
	})
	panel, err := web.Mount(web.Config{Queue: w.store, Accounts: w.store, IPs: ips, Domains: w.domains.api,
		Replies: w.replies, Token: w.token, PublicURL: cfg.HTTP.PublicURL, Sessions: w.shared, Logger: logger,
		Guard: w.guard, Suppressions: w.sup.panel(), Authenticate: w.intake.Authenticate,
		Usage: w.checks.limiter.Usage, Stats: w.counts.reader, Inbound: w.mxs.panel(cfg.Inbound.DecisionsKept)}, h)
	if err != nil {
		return err
	}
	shielded := api.Shield(panel, api.ShieldConfig{AllowedHosts: cfg.HTTP.AllowedHosts, Listen: cfg.HTTP.Listen,
		PublicURL: cfg.HTTP.PublicURL})
	// The client behind trusted proxies (X-Forwarded-For) is what the
	// throttle, /send and the logs see.
	srv, addr, err := listenHTTP(cfg.HTTP.Listen, cfg.HTTP.HTTPBounds, clientip.Handler(cfg.Auth.TrustedProxyPrefixes(), shielded), logger)
	if err != nil {
		return err
	}
	w.httpAddr = addr
	w.add(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	return nil
}
