package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"sendpool/internal/authguard"
	"sendpool/internal/buildinfo"
	"sendpool/internal/config"
	"sendpool/internal/deliver"
	"sendpool/internal/diskspace"
	"sendpool/internal/dns"
	"sendpool/internal/history"
	"sendpool/internal/intake"
	"sendpool/internal/metrics"
	"sendpool/internal/pool"
	"sendpool/internal/queue"
	"sendpool/internal/smtpd"
	"sendpool/internal/spool"
	"sendpool/internal/state"
	"sendpool/internal/stats"
	"sendpool/internal/store/sqlite"
)

// node is one running sendpool: every part wired together.
type node struct {
	closers
	store    store
	intake   *intake.Service
	pool     *pool.Pool
	domains  *domains
	httpAddr string
	token    string // the admin token (token.go)
}

// startNode wires and starts every part of a node, in four phases, each
// needing only what the ones before it built: the data (store, state, DNS),
// delivery (pool, courier, scheduler), the ways in (domains, intake, SMTP,
// MX), and the HTTP API with the panel. The scheduler runs until ctx ends or
// close is called; closers run in reverse, so each part stops before what it
// uses.
func startNode(ctx context.Context, cfg *config.Config, logger *slog.Logger) (n *node, err error) {
	n = &node{}
	started := n // the named result is nil once an error is returned
	defer func() {
		if err != nil {
			started.close()
		}
	}()
	w := &wiring{node: n, cfg: cfg, logger: logger}
	if err := w.data(ctx); err != nil {
		return nil, err
	}
	if err := w.delivery(ctx); err != nil {
		return nil, err
	}
	if err := w.waysIn(ctx); err != nil {
		return nil, err
	}
	if cfg.HTTP.Listen != "" {
		if err := w.http(); err != nil {
			return nil, err
		}
	}
	logger.Info("started", "node", nodeID(cfg), "submission", cfg.Submission.Listen, "http", n.httpAddr,
		"pool", len(n.pool.IPs()))
	return n, nil
}

// wiring carries what one phase of startNode built to the next.
type wiring struct {
	*node
	cfg    *config.Config
	logger *slog.Logger

	// data
	space    *diskspace.Guard
	raw      store // as opened, without the lookup cache
	shared   state.State
	rec      *history.Recorder
	replies  *history.Replies
	resolver *dns.Client
	allowed  []netip.Prefix // delivery.allowed_networks
	reg      *prometheus.Registry
	m        *metrics.Metrics
	hooks    *webhooks
	mxs      *mx

	// delivery
	pp      poolParts
	sched   *queue.Scheduler
	otls    *outboundTLS
	sup     *suppressions
	checks  *checks
	counts  *counts
	courier *deliver.Courier

	// ways in
	guard *authguard.Guard
	spool *spool.Dir // where SMTP and /send take large messages
}

// data opens the store, the shared state, the history and the resolver,
// and builds the metrics registry and the webhooks every later part reports
// to.
func (w *wiring) data(ctx context.Context) error {
	cfg, logger := w.cfg, w.logger
	if err := os.MkdirAll(cfg.Server.DataDir, 0o750); err != nil {
		return fmt.Errorf("server.data_dir: %w", err)
	}
	w.space = newSpace(cfg, logger) // bounds.go: store.min_free_space
	w.add(w.space.Close)
	st, err := openStore(ctx, cfg, logger, w.space.Release) // store.go
	if err != nil {
		return err
	}
	w.add(st.Close)
	if sq, ok := st.(*sqlite.Store); ok {
		stop, err := checkIntegrity(ctx, sq, logger) // bounds.go
		if err != nil {
			return err
		}
		w.add(stop)
	}
	w.raw = st
	w.store = withLookupCache(st, cfg.Server.LookupCacheTTL.D()) // lookup.go: accounts, domains

	if w.shared, err = openState(ctx, cfg); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	w.add(w.shared.Close)
	// Recent history every node shows (replies per IP, intake events),
	// written in the background: closed after all that add to it, before
	// the state.
	w.rec = history.New(history.Config{State: w.shared, Logger: logger})
	w.add(w.rec.Close)
	w.replies = history.NewReplies(w.shared, w.rec)
	if w.resolver, err = dns.New(cfg.DNS.Servers, dnsOptions(cfg, w.shared)); err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	if w.mxs, err = newMX(cfg, w.store, w.shared); err != nil { // inbound.go: hosted domains, SRS
		return err
	}
	for _, s := range cfg.Delivery.AllowedNetworks {
		w.allowed = append(w.allowed, netip.MustParsePrefix(s)) // validated by config
	}

	w.reg = prometheus.NewRegistry()
	w.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w.m = metrics.New(w.reg)
	bi := buildinfo.Read()
	metrics.RegisterBuildInfo(w.reg, bi.Version, bi.CommitLabel(), bi.GoVersion)
	metrics.RegisterHistoryDropped(w.reg, w.rec.Dropped)
	w.m.SetQueueCounts(func() map[queue.Status]int {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := w.store.Counts(ctx)
		if err != nil {
			return nil
		}
		return c
	}, config.QueueCountsEvery)
	// Events out (webhooks.go): closed after the scheduler and intake that
	// feed it, before the store.
	w.hooks = startWebhooks(ctx, cfg, w.raw, w.shared, w.resolver, w.allowed, w.reg, logger)
	w.add(w.hooks.stop)
	return nil
}

// waysIn starts the domains (DKIM keys, records), intake, the submission
// listeners and the MX.
func (w *wiring) waysIn(ctx context.Context) error {
	cfg, logger := w.cfg, w.logger
	doms, err := startDomains(ctx, cfg, w.store, logger) // domains.go: DKIM keys, records, checker
	if err != nil {
		return err
	}
	w.add(doms.stop)
	w.domains = doms
	w.add(w.otls.run(ctx)) // TLS reports (they sign with doms) and MTA-STS refreshes
	w.hooks.watchDNS(ctx, doms)
	w.intake = intake.New(intake.Config{
		Accounts:     w.store,
		Queue:        w.hooks.queue(w.store), // with its accepted event (webhooks.go)
		Hostname:     cfg.Server.Hostname,
		Logger:       logger,
		MaxQueueTime: cfg.Delivery.MaxQueueTime.D(),
		OnQueued:     w.sched.Wake,
		Checks:       w.sup.checks(w.checks.list),
		Observers:    append(w.checks.observers, intakeMetrics(w.m)),
		VerifyDKIM:   verifyDKIM(w.resolver),
		Sign:         doms.sign,
		Space:        w.space,
		SRS:          w.mxs.rewriter(),
	})
	tlsConfig, err := loadTLS(cfg)
	if err != nil {
		return err
	}
	w.guard = newAuthGuard(cfg, w.shared, w.store, w.m, logger) // authguard.go: [auth]
	// Large messages arrive into files here (issue 13); what a crash left
	// is removed now.
	sp, err := spool.Open(filepath.Join(cfg.Server.DataDir, "spool"), 0)
	if err != nil {
		return fmt.Errorf("server.data_dir: %w", err)
	}
	w.spool = sp
	smtp, err := smtpd.New(smtpd.Config{
		Spool:             sp,
		Intake:            w.intake,
		Guard:             w.guard,
		Hostname:          cfg.Server.Hostname,
		TLS:               tlsConfig,
		AllowInsecureAuth: cfg.Submission.AllowInsecureAuth,
		MaxMessageSize:    int64(cfg.Submission.MaxMessageSize),
		MaxRecipients:     cfg.Submission.MaxRecipients,
		Logger:            logger,
		ProxyProtocol:     cfg.Submission.ProxyProtocol,
		TrustedProxies:    cfg.Auth.TrustedProxyPrefixes(),
		Bounds:            smtpBounds(cfg), // bounds.go
	})
	if err != nil {
		return fmt.Errorf("submission: %w", err)
	}
	for _, addr := range cfg.Submission.Listen {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			smtp.Close()
			return fmt.Errorf("submission: %w", err)
		}
		go func() {
			if err := smtp.Serve(l); err != nil && !errors.Is(err, gosmtp.ErrServerClosed) {
				logger.Error("submission", "addr", addr, "err", err)
			}
		}()
	}
	w.add(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return smtp.Shutdown(ctx)
	})
	stopMX, err := w.mxs.start(cfg, w.store, w.resolver, w.rec, w.reg, w.sched.Wake, logger)
	if err != nil {
		return err
	}
	w.add(stopMX)
	return nil
}

// observed records every delivery attempt in the metrics and the panel's
// counts (one increment each; written in the background).
type observed struct {
	queue.Courier
	m        *metrics.Metrics
	tls      *metrics.TLS
	counts   *stats.Recorder
	provider func(mx string) string
}

func (o observed) Deliver(ctx context.Context, group []*queue.Lease) []queue.Result {
	rs := o.Courier.Deliver(ctx, group)
	for _, r := range rs {
		if !r.Attempt.Time.IsZero() {
			o.m.Attempt(string(r.Verdict), r.Attempt.SourceIP, r.Attempt.Duration)
			o.counts.Attempt(r.Attempt.SourceIP, o.provider(r.Attempt.MX), string(r.Verdict))
			o.tls.Attempt(r.Attempt.TLS)
		}
	}
	return rs
}

// intakeMetrics counts intake's decisions on whole messages (the end of
// DATA, POST /send): accepted by way in, refused by the check that
// refused, a scan's refusal as spam or virus.
func intakeMetrics(m *metrics.Metrics) func(context.Context, intake.Decision) {
	return func(_ context.Context, d intake.Decision) {
		if d.Accepted() {
			way := "smtp"
			if d.Protocol == "HTTP" {
				way = "http"
			}
			m.Accepted(way)
			return
		}
		reason := d.Err.Check
		switch {
		case reason == "scan" && d.Err.Code == intake.CodeRejected:
			reason = "spam"
		case reason == "scan" && d.Err.Code == intake.CodeTransaction:
			reason = "virus"
		case reason == "":
			reason = "other"
		}
		m.Rejected(reason)
	}
}
