package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"sendpool/internal/api"
	"sendpool/internal/config"
	"sendpool/internal/dns"
	"sendpool/internal/history"
	"sendpool/internal/inbound"
	"sendpool/internal/metrics"
	"sendpool/internal/scan"
	"sendpool/internal/srs"
	"sendpool/internal/state"
)

// mx is the node's MX side ([inbound], SPEC §7): the hosted domains,
// which delivery routes to their accounts' inbound_host, the SRS
// rewriter, and the listener once started.
type mx struct {
	hosted *inbound.Hosted // nil with inbound.listen empty
	srs    *srs.SRS        // nil without inbound.srs_domain
	shared state.State
}

// newMX makes the parts delivery and intake need before the listener.
func newMX(cfg *config.Config, st store, shared state.State) (*mx, error) {
	m := &mx{shared: shared}
	in := cfg.Inbound
	if len(in.Listen) > 0 {
		m.hosted = inbound.NewHosted(st, cfg.Server.LookupCacheTTL.D(), nil)
	}
	if in.SRSDomain != "" {
		s, err := srs.New(srs.Config{Domain: in.SRSDomain, Secrets: in.SRSSecrets})
		if err != nil {
			return nil, fmt.Errorf("inbound.srs_domain: %w", err)
		}
		m.srs = s
	}
	return m, nil
}

// routes is delivery's fixed routes: a hosted domain's mail goes to its
// account's inbound_host rather than to its MX (which is us).
func (m *mx) routes() func(ctx context.Context, domain string) (string, bool, error) {
	if m.hosted == nil {
		return nil
	}
	return m.hosted.Route
}

// rewriter is intake's SRS, nil without one.
func (m *mx) rewriter() interface{ Forward(string) (string, error) } {
	if m.srs == nil {
		return nil
	}
	return m.srs
}

// start listens on inbound.listen, if any, and returns the shutdown.
func (m *mx) start(cfg *config.Config, st store, resolver dns.Resolver, rec *history.Recorder, reg prometheus.Registerer,
	onQueued func(), logger *slog.Logger) (func() error, error) {
	in := cfg.Inbound
	if len(in.Listen) == 0 {
		return func() error { return nil }, nil
	}
	var lists []inbound.List
	var zones []string
	for _, l := range in.DNSBL {
		var codes []netip.Addr
		for _, c := range l.Codes {
			codes = append(codes, netip.MustParseAddr(c)) // validated by config
		}
		lists = append(lists, inbound.List{Zone: l.Zone, Weight: l.Weight, Codes: codes})
		zones = append(zones, l.Zone)
	}
	met := metrics.NewInbound(reg, zones)
	tlsConfig, err := loadTLS(cfg)
	if err != nil {
		return nil, err
	}
	cfgSRS := inbound.SRS(nil)
	if m.srs != nil {
		cfgSRS = m.srs
	}
	srv, err := inbound.New(inbound.Config{
		Hostname: cfg.Server.Hostname, TLS: tlsConfig, Logger: logger,
		Hosted: m.hosted, Queue: st, State: m.shared, Resolver: resolver, Recipients: st,
		Scanner: scan.NewCheck(scan.CheckConfig{Scanners: scanners(cfg), RejectScore: in.RejectScore,
			Fail: cfg.Scan.Fail, Timeout: cfg.Scan.Timeout.D(), Logger: logger}),
		ScanFail: cfg.Scan.Fail, SRS: cfgSRS, Decisions: rec, OnQueued: onQueued,
		Observe:     func(d inbound.Decision) { met.Decision(d.Action, d.Check) },
		OnZoneError: met.ZoneError,
		Allow:       config.Prefixes(in.Allow), Deny: config.Prefixes(in.Deny),
		GreetPause: in.GreetPause.D(), PassFor: in.PassFor.D(), BanFor: in.BanFor.D(),
		MaxConnections: in.MaxConnections, MaxConnectionsPerIP: in.MaxConnectionsPerIP,
		ConnectionsPerMinute: in.ConnectionsPerMinute, MaxUnknownRecipients: in.MaxUnknownRecipients,
		MaxErrors: in.MaxErrors, MaxMessageSize: int64(in.MaxMessageSize), MaxRecipients: in.MaxRecipients,
		MaxHeaderSize: int64(cfg.Submission.MaxHeaderSize),
		Lists:         lists, Threshold: in.DNSBLThreshold, FCrDNSWeight: in.FCrDNSWeight, HELOWeight: in.HELOWeight,
		LookupTimeout: config.InboundOpTimeout, DNSBLTimeout: in.DNSBLTimeout.D(), Verify: in.Recipients, CalloutTimeout: in.CalloutTimeout.D(),
		CalloutPort: cfg.Delivery.Port, CalloutPos: in.CalloutPositive.D(), CalloutNeg: in.CalloutNegative.D(),
		RejectScore: in.RejectScore, TagScore: in.TagScore,
		Greylist: in.Greylist, GreylistDelay: in.GreylistDelay.D(), GreylistRetryWindow: in.GreylistRetryWindow.D(),
		GreylistPassFor: in.GreylistPassFor.D(), DMARCOverride: in.DMARCOverride, DecisionsKept: in.DecisionsKept,
		MaxQueueTime: cfg.Delivery.MaxQueueTime.D(),
	})
	if err != nil {
		return nil, fmt.Errorf("inbound: %w", err)
	}
	for _, addr := range in.Listen {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			srv.Close()
			return nil, fmt.Errorf("inbound: %w", err)
		}
		logger.Info("inbound listening", "addr", l.Addr().String())
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, gosmtp.ErrServerClosed) {
				logger.Error("inbound", "addr", addr, "err", err)
			}
		}()
	}
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	}, nil
}

// api is what the API serves of the MX: decisions, bans, recipient lists.
func (m *mx) api(st store, decisionsKept int) *api.Inbound {
	return &api.Inbound{Decisions: m.panel(decisionsKept).Decisions, Bans: m.bans(), Recipients: st}
}

func (m *mx) bans() *inbound.Bans { return &inbound.Bans{State: m.shared, Now: time.Now} }

// panel is what the control panel's MX page shows.
func (m *mx) panel(decisionsKept int) mxPanel { return mxPanel{m: m, kept: decisionsKept} }

type mxPanel struct {
	m    *mx
	kept int
}

// Decisions returns up to n recent decisions (0 or past what is kept:
// all kept).
func (p mxPanel) Decisions(ctx context.Context, n int) ([]inbound.Decision, error) {
	if n <= 0 || n > p.kept {
		n = p.kept
	}
	return inbound.Decisions(ctx, p.m.shared, n)
}

// Bans returns the bans in force.
func (p mxPanel) Bans(ctx context.Context) ([]inbound.Ban, error) { return p.m.bans().List(ctx) }
