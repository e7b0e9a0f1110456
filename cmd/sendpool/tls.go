package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"sendpool/internal/config"
	"sendpool/internal/deliver"
	"sendpool/internal/dns"
	"sendpool/internal/domain"
	"sendpool/internal/httpout"
	"sendpool/internal/mtasts"
	"sendpool/internal/state"
	"sendpool/internal/tlspolicy"
	"sendpool/internal/tlsrpt"
)

// outboundTLS is the outbound TLS part of a node (SPEC §7): the policies
// the courier follows (overrides, DANE, MTA-STS), the roots certificates
// are checked against, the resolver delivery looks MX hosts up through
// (the validating one with DANE) and the TLS reports.
type outboundTLS struct {
	policies *tlspolicy.Policies
	roots    *x509.CertPool
	resolver *dns.Client
	sts      *mtasts.Policies // nil without delivery.mta_sts
	reports  *tlsrpt.Reports  // nil without delivery.tls_rpt
}

// tlsHooks are what the reports need from parts started after the
// courier: the queue's wake-up and the DKIM signer.
type tlsHooks struct {
	queue   tlsrpt.Putter
	wake    func()
	domains func() *domains
}

// reportsOrNil is the courier's TLSReports: none without tls_rpt (a nil
// *tlsrpt.Reports would be an interface that is not nil).
func (o *outboundTLS) reportsOrNil() deliver.TLSReports {
	if o.reports == nil {
		return nil
	}
	return o.reports
}

// newOutboundTLS wires the outbound TLS of cfg. resolver is the node's;
// with delivery.dane, delivery looks up through dns.dnssec_resolver
// instead, so that the addresses connected to are the validated ones.
func newOutboundTLS(cfg *config.Config, shared state.State, resolver *dns.Client, allowed []netip.Prefix,
	hooks tlsHooks, logger *slog.Logger) (*outboundTLS, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if f := cfg.Delivery.TLSCAFile; f != "" {
		certs, err := config.LoadCAFile(f)
		if err != nil {
			return nil, fmt.Errorf("delivery.tls_ca_file: %w", err)
		}
		for _, c := range certs {
			roots.AddCert(c)
		}
	}
	o := &outboundTLS{roots: roots, resolver: resolver}
	pc := tlspolicy.Config{Overrides: map[string]string{}}
	for _, p := range cfg.Delivery.TLSPolicy {
		pc.Overrides[strings.ToLower(strings.TrimSuffix(p.Domain, "."))] = p.Mode
	}
	if cfg.Delivery.DANE {
		opts := dnsOptions(cfg, shared)
		opts.DNSSEC = true
		if o.resolver, err = dns.New([]string{cfg.DNS.DNSSECResolver}, opts); err != nil {
			return nil, fmt.Errorf("dns.dnssec_resolver: %w", err)
		}
		pc.DANE = o.resolver
	}
	client := httpout.New(httpout.Config{Resolver: o.resolver, Allowed: allowed, Roots: roots})
	if cfg.Delivery.MTASTS {
		o.sts = mtasts.New(mtasts.Config{
			Resolver: o.resolver,
			Fetcher: &mtasts.Fetcher{Client: client, Port: cfg.Delivery.MTASTSPort,
				MaxSize: config.MTASTSMaxPolicySize, Timeout: config.MTASTSFetchTimeout},
			State:  shared,
			Logger: logger.With("part", "mta-sts"),
		})
		pc.STS = o.sts
	}
	o.policies = tlspolicy.New(pc)
	if cfg.Delivery.TLSRPT {
		o.reports = tlsrpt.New(tlsrpt.Config{
			State:        shared,
			Resolver:     o.resolver,
			Period:       cfg.Delivery.TLSRPTPeriod.D(),
			Organization: cfg.Server.Hostname,
			From:         cfg.ReportFrom(),
			Queue:        hooks.queue,
			MaxQueueTime: cfg.Delivery.MaxQueueTime.D(),
			OnQueued:     hooks.wake,
			Sign:         reportSigner(cfg.ReportFrom(), hooks.domains),
			HTTP:         client,
			Logger:       logger.With("part", "tls-rpt"),
		})
	}
	return o, nil
}

// run sends the TLS reports until ctx ends; stop waits for the last
// flush and for MTA-STS refreshes under way.
func (o *outboundTLS) run(ctx context.Context) (stop func() error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if o.reports != nil {
			o.reports.Run(ctx)
		}
	}()
	return func() error {
		cancel()
		<-done
		if o.sts != nil {
			return o.sts.Close()
		}
		return nil
	}
}

// reportSigner DKIM-signs a report mail from addr with the keys of its
// domain (or the nearest parent with keys), when sendpool has them: that
// domain's account signs it, as it would its own mail.
func reportSigner(addr string, doms func() *domains) func(ctx context.Context, msg []byte) ([]byte, error) {
	_, name, _ := strings.Cut(addr, "@")
	return func(ctx context.Context, msg []byte) ([]byte, error) {
		d := doms()
		if d == nil {
			return msg, nil
		}
		for n := strings.ToLower(name); strings.Contains(n, "."); _, n, _ = strings.Cut(n, ".") {
			dom, err := d.api.Store.GetDomain(ctx, n)
			if errors.Is(err, domain.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			signed, _, err := d.keys.Sign(ctx, dom.Account, msg)
			return signed, err
		}
		return msg, nil
	}
}
