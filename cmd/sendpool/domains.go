package main

import (
	"context"
	"fmt"
	"log/slog"

	"sendpool/internal/api"
	"sendpool/internal/config"
	"sendpool/internal/dkim"
	"sendpool/internal/dns"
	"sendpool/internal/dnsrec"
	"sendpool/internal/domain"
	"sendpool/internal/intake"
	"sendpool/internal/queue"
)

// domains is the DKIM and DNS-records part of a node: the key manager with
// its periodic activation check, the intake signer and the API's routes.
type domains struct {
	keys *dkim.Manager
	pub  publisher
	api  *api.Domains
	stop func() error
}

// startDomains wires the domains over ds and starts the check that
// activates rotated keys once their records are published.
func startDomains(ctx context.Context, cfg *config.Config, ds domain.Store, logger *slog.Logger) (*domains, error) {
	// Checks look records up uncached: one just published must be seen at
	// once, not after a cached "not found" expires.
	fresh, err := dns.New(cfg.DNS.Servers, dns.Options{Cache: dns.NoCache{}})
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	algs := []domain.Algorithm{} // not nil: none listed signs none
	for _, name := range cfg.DKIM.Algorithms {
		alg, err := dkim.ParseAlgorithmName(name)
		if err != nil {
			return nil, fmt.Errorf("dkim.algorithms: %w", err)
		}
		algs = append(algs, alg)
	}
	// In the zones sendpool publishes in, records are looked up on every
	// authoritative server of the zone (dnspub.Authoritative): a new key
	// signs only once all of them answer it. Elsewhere, fresh.
	var keys *dkim.Manager
	pub, lookup := newPublisher(cfg, ds, fresh, func(ctx context.Context, name string) {
		if _, err := keys.Activate(ctx, name); err != nil {
			logger.WarnContext(ctx, "dkim: activation after publishing", "domain", name, "err", err)
		}
	}, logger)
	keys = dkim.New(dkim.Config{
		Store:       ds,
		Resolver:    lookup,
		RetireAfter: cfg.DKIM.RetireAfter.D(),
		Algorithms:  algs,
		Logger:      logger,
	})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		keys.Run(rctx, cfg.DKIM.CheckInterval.D())
	}()
	pdone := make(chan struct{})
	go func() {
		defer close(pdone)
		// At start, sendpool's own SPF record is compared with the pool
		// and updated; then every published domain each interval.
		pub.Run(rctx, cfg.DNS.PublishInterval.D())
	}()
	d := &domains{
		keys: keys,
		pub:  pub,
		api: &api.Domains{
			Store:   ds,
			Keys:    keys,
			Records: pub.records,
			Checker: &dnsrec.Checker{Resolver: lookup, Config: pub.records},
		},
		stop: func() error { cancel(); <-done; <-pdone; return nil },
	}
	if len(cfg.DNS.Publish) > 0 {
		d.api.Publisher = pub.Publisher
	}
	return d, nil
}

// sign is intake's Sign hook: DKIM-signs a message whose From domain is
// one of the submitting account's.
func (d *domains) sign(ctx context.Context, s *intake.Submission) ([]byte, []queue.DKIMSignature, error) {
	var signed []byte
	var made []dkim.Signature
	var err error
	if s.Spooled != nil {
		// A spooled message gets its signatures on top where it is.
		var fields []byte
		if fields, made, err = d.keys.SignReader(ctx, s.Account.Name, s.Spooled.NewReader()); err == nil && len(fields) > 0 {
			err = s.Spooled.Prepend(fields)
		}
	} else {
		signed, made, err = d.keys.Sign(ctx, s.Account.Name, s.Body)
	}
	sigs := make([]queue.DKIMSignature, len(made))
	for i, m := range made {
		sigs[i] = queue.DKIMSignature{Domain: m.Domain, Selector: m.Selector, Algorithm: m.Algorithm}
	}
	return signed, sigs, err
}

// verifyDKIM is intake's DKIM verifier for the From: rule: keys come
// through the node's resolver, whose cache (shared by nodes with Redis)
// keeps a forwarder's key for its TTL.
func verifyDKIM(r dkim.TXTResolver) intake.VerifyFunc {
	return func(ctx context.Context, msg []byte) ([]intake.DKIMResult, error) {
		vs, err := dkim.Verify(ctx, r, msg)
		out := make([]intake.DKIMResult, len(vs))
		for i, v := range vs {
			out[i] = intake.DKIMResult{Domain: v.Domain, Pass: v.Result == dkim.Pass, Temporary: v.Result == dkim.TempError}
		}
		return out, err
	}
}
