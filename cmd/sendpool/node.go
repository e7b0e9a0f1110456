package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"sendpool/internal/api"
	"sendpool/internal/bounce"
	"sendpool/internal/buildinfo"
	"sendpool/internal/classify"
	"sendpool/internal/clientip"
	"sendpool/internal/config"
	"sendpool/internal/deliver"
	"sendpool/internal/dns"
	"sendpool/internal/history"
	"sendpool/internal/intake"
	"sendpool/internal/ipadmin"
	"sendpool/internal/metrics"
	"sendpool/internal/pool"
	"sendpool/internal/queue"
	"sendpool/internal/smtpd"
	"sendpool/internal/stats"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/web"
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

// startNode wires and starts every part of a node. The scheduler runs until
// ctx ends or close is called.
func startNode(ctx context.Context, cfg *config.Config, logger *slog.Logger) (n *node, err error) {
	n = &node{}
	started := n // the named result is nil once an error is returned
	defer func() {
		if err != nil {
			started.close()
		}
	}()
	if err := os.MkdirAll(cfg.Server.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("server.data_dir: %w", err)
	}
	space := newSpace(cfg, logger) // bounds.go: store.min_free_space
	n.add(space.Close)
	st, err := openStore(ctx, cfg, logger, space.Release) // store.go
	if err != nil {
		return nil, err
	}
	n.add(st.Close)
	if sq, ok := st.(*sqlite.Store); ok {
		stop, err := checkIntegrity(ctx, sq, logger) // bounds.go
		if err != nil {
			return nil, err
		}
		n.add(stop)
	}
	raw := st
	st = withLookupCache(st, cfg.Server.LookupCacheTTL.D()) // lookup.go: accounts, domains
	n.store = st

	shared, err := openState(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	n.add(shared.Close)
	// Recent history every node shows (replies per IP, intake events),
	// written in the background: closed after all that add to it (closers
	// run in reverse), before the state.
	rec := history.New(history.Config{State: shared, Logger: logger})
	n.add(rec.Close)
	replies := history.NewReplies(shared, rec)
	resolver, err := dns.New(cfg.DNS.Servers, dnsOptions(cfg, shared))
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	mxs, err := newMX(cfg, st, shared) // inbound.go: hosted domains, SRS
	if err != nil {
		return nil, err
	}
	classifier, err := classify.New(nil)
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	var allowed []netip.Prefix
	for _, s := range cfg.Delivery.AllowedNetworks {
		allowed = append(allowed, netip.MustParsePrefix(s)) // validated by config
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	bi := buildinfo.Read()
	metrics.RegisterBuildInfo(reg, bi.Version, bi.CommitLabel(), bi.GoVersion)
	metrics.RegisterHistoryDropped(reg, rec.Dropped)
	// Events out (webhooks.go): closed after the scheduler and intake that
	// feed it (closers run in reverse), before the store.
	hooks := startWebhooks(ctx, cfg, raw, shared, resolver, allowed, reg, logger)
	n.add(hooks.stop)
	m.SetQueueCounts(func() map[queue.Status]int {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := st.Counts(ctx)
		if err != nil {
			return nil
		}
		return c
	}, config.QueueCountsEvery)
	// Retention: finished messages go store.retention after they finished.
	janitor := queue.NewJanitor(st, queue.JanitorConfig{Retention: cfg.Store.Retention.D(),
		Logger: logger, OnPurged: m.Purged})
	jctx, jcancel := context.WithCancel(ctx)
	jdone := make(chan struct{})
	go func() { defer close(jdone); janitor.Run(jctx) }()
	n.add(func() error { jcancel(); <-jdone; return nil })

	pp := newPool(cfg, shared, resolver, m, metrics.NewWarmup(reg), metrics.NewPace(reg), hooks.tracker(), logger)
	n.pool = pp.pool
	ips := n.pool.IPs()
	pctx, pcancel := context.WithCancel(ctx)
	pwait := pp.run(pctx, logger)
	n.add(func() error { pcancel(); pwait(); return nil })

	var sched *queue.Scheduler
	otls, err := newOutboundTLS(cfg, shared, resolver, allowed, tlsHooks{queue: st, wake: func() { sched.Wake() },
		domains: func() *domains { return n.domains }}, logger) // tls.go: MTA-STS, DANE, TLS-RPT, overrides
	if err != nil {
		return nil, err
	}
	courier := deliver.New(deliver.Config{
		Resolver:              otls.resolver,
		Pool:                  n.pool,
		Store:                 st,
		Classifier:            classifier,
		Provider:              classifier.Provider,
		Replies:               replies,
		MaxConnsPerMX:         cfg.Delivery.MaxConnectionsPerMX,
		MaxConnsPerIPProvider: cfg.Delivery.MaxConnectionsPerIPProvider,
		Port:                  cfg.Delivery.Port,
		AllowedNetworks:       allowed,
		ConnectTimeout:        cfg.Delivery.ConnectTimeout.D(),
		MessagesPerConnection: cfg.Delivery.MessagesPerConnection,
		Routes:                mxs.routes(),
		Logger:                logger,
		TLS:                   otls.policies,
		TLSReports:            otls.reportsOrNil(),
		RootCAs:               otls.roots,
	})
	retry := make([]time.Duration, len(cfg.Delivery.Retry))
	for i, d := range cfg.Delivery.Retry {
		retry[i] = d.D()
	}
	// DSNs are queued like any message. Failure DSNs are stored before the
	// bounce is recorded (OnBounce), delay notices before the delivery is
	// marked notified (OnDelay), so no crash loses one. The notifier closes
	// after the scheduler stops (closers run in reverse).
	notifier := bounce.New(bounce.Config{
		Store:        st,
		Hostname:     cfg.Server.Hostname,
		MaxQueueTime: cfg.Delivery.MaxQueueTime.D(),
		Gather:       cfg.Delivery.DelayNoticeGather.D(),
		OnQueued:     func() { sched.Wake() },
		Logger:       logger,
	})
	n.add(notifier.Close)
	sup := startSuppression(ctx, cfg, raw, reg, logger) // suppression.go: per-account suppression lists
	n.add(sup.stop)
	ic := newChecks(cfg, st, shared, rec, hooks.held(), logger) // checks.go: scan, limits, protection
	counts := startStats(ctx, shared, st, logger)               // stats.go: the panel's pictures
	n.add(counts.stop)
	sched = queue.NewScheduler(st, observed{ic.gate(courier), m, metrics.NewTLS(reg), counts.rec, classifier.Provider}, queue.SchedulerConfig{
		Owner:         nodeID(cfg),
		LeaseFor:      cfg.Delivery.LeaseFor.D(),
		MaxGroupTime:  cfg.Delivery.MaxGroupTime.D(),
		Workers:       cfg.Delivery.Workers,
		PerConnection: cfg.Delivery.MessagesPerConnection,
		Retry:         retry,
		Logger:        logger,
		OnBounce:      notifier.Bounce,
		OnFinal:       counts.onFinal(ic.onFinal(sup.onFinal())),
		DelayNotice:   cfg.Delivery.DelayNotice.D(),
		OnDelay:       notifier.Delayed,
		OnOutcomes:    hooks.outcomes(), // webhooks: each outcome's event before it is recorded
	})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := sched.Run(sctx); err != nil {
			logger.Error("scheduler", "err", err)
		}
	}()
	n.add(func() error { cancel(); <-done; return nil })

	doms, err := startDomains(ctx, cfg, st, logger) // domains.go: DKIM keys, records, checker
	if err != nil {
		return nil, err
	}
	n.add(doms.stop)
	n.domains = doms
	n.add(otls.run(ctx)) // TLS reports (they sign with doms) and MTA-STS refreshes
	hooks.watchDNS(ctx, doms)
	n.intake = intake.New(intake.Config{
		Accounts:     st,
		Queue:        hooks.queue(st), // with its accepted event (webhooks.go)
		Hostname:     cfg.Server.Hostname,
		Logger:       logger,
		MaxQueueTime: cfg.Delivery.MaxQueueTime.D(),
		OnQueued:     sched.Wake,
		Checks:       sup.checks(ic.list),
		Observers:    append(ic.observers, intakeMetrics(m)),
		VerifyDKIM:   verifyDKIM(resolver),
		Sign:         doms.sign,
		Space:        space,
		SRS:          mxs.rewriter(),
	})
	tlsConfig, err := loadTLS(cfg)
	if err != nil {
		return nil, err
	}
	guard := newAuthGuard(cfg, shared, st, m, logger) // authguard.go: [auth]
	smtp, err := smtpd.New(smtpd.Config{
		Intake:            n.intake,
		Guard:             guard,
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
		return nil, fmt.Errorf("submission: %w", err)
	}
	for _, addr := range cfg.Submission.Listen {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			smtp.Close()
			return nil, fmt.Errorf("submission: %w", err)
		}
		go func() {
			if err := smtp.Serve(l); err != nil && !errors.Is(err, gosmtp.ErrServerClosed) {
				logger.Error("submission", "addr", addr, "err", err)
			}
		}()
	}
	n.add(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return smtp.Shutdown(ctx)
	})
	stopMX, err := mxs.start(cfg, st, resolver, rec, reg, sched.Wake, logger)
	if err != nil {
		return nil, err
	}
	n.add(stopMX)

	if cfg.HTTP.Listen != "" {
		if n.token, err = adminToken(cfg, logger); err != nil {
			return nil, err
		}
		ips := ipadmin.New(n.pool, pp.tracker, nil).WithWarmup(pp.warmup).WithPacer(pp.pacer)
		h := api.New(api.Config{
			Queue:    st,
			Accounts: st,
			IPs:      ips,
			Token:    n.token,
			Gatherer: reg,
			Logger:   logger,
			Pprof:    cfg.HTTP.Pprof,
			Events:   ic.events,
			Send:     ic.send(cfg, n.intake, guard),
			Guard:    guard,
			Domains:  doms.api,
			Replies:  replies,

			Suppressions: sup.routes(),
			Inbound:      mxs.api(st, cfg.Inbound.DecisionsKept),
			Health:       newHealth(cfg, raw.(prober), shared, space, logger).Check, // bounds.go
			Webhooks:     hooks.routes(),
		})
		// The control panel (SPEC §6) at /, the API's routes beside it.
		panel, err := web.Mount(web.Config{Queue: st, Accounts: st, IPs: ips, Domains: doms.api, Replies: replies,
			Token: n.token, PublicURL: cfg.HTTP.PublicURL, Sessions: shared, Logger: logger, Guard: guard,
			Suppressions: sup.panel(), Authenticate: n.intake.Authenticate, Usage: ic.limiter.Usage,
			Stats: counts.reader, Inbound: mxs.panel(cfg.Inbound.DecisionsKept)}, h)
		if err != nil {
			return nil, err
		}
		shielded := api.Shield(panel, api.ShieldConfig{AllowedHosts: cfg.HTTP.AllowedHosts, Listen: cfg.HTTP.Listen,
			PublicURL: cfg.HTTP.PublicURL})
		// The client behind trusted proxies (X-Forwarded-For) is what the
		// throttle, /send and the logs see.
		srv, addr, err := listenHTTP(cfg.HTTP.Listen, cfg.HTTP.HTTPBounds, clientip.Handler(cfg.Auth.TrustedProxyPrefixes(), shielded), logger)
		if err != nil {
			return nil, err
		}
		n.httpAddr = addr
		n.add(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(ctx)
		})
	}
	logger.Info("started", "node", nodeID(cfg), "submission", cfg.Submission.Listen, "http", n.httpAddr, "pool", len(ips))
	return n, nil
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
