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

	"sendpool/internal/api"
	"sendpool/internal/classify"
	"sendpool/internal/config"
	"sendpool/internal/deliver"
	"sendpool/internal/dns"
	"sendpool/internal/intake"
	"sendpool/internal/metrics"
	"sendpool/internal/pool"
	"sendpool/internal/queue"
	"sendpool/internal/smtpd"
	"sendpool/internal/store/sqlite"
)

// node is one running sendpool: every part wired together.
type node struct {
	closers
	store    *sqlite.Store
	intake   *intake.Service
	pool     *pool.Pool
	httpAddr string
}

// startNode wires and starts every part of a node. The scheduler runs until
// ctx ends or close is called.
func startNode(ctx context.Context, cfg *config.Config, logger *slog.Logger) (n *node, err error) {
	n = &node{}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if err := os.MkdirAll(cfg.Server.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("server.data_dir: %w", err)
	}
	st, err := sqlite.Open(filepath.Join(cfg.Server.DataDir, "queue.db"), sqlite.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	n.store = st
	n.add(st.Close)

	resolver, err := dns.New(cfg.DNS.Servers, dns.Options{})
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	var ips []pool.IP
	for _, ip := range cfg.PoolIPs() {
		var addr netip.Addr
		if ip.Address != "" {
			addr = netip.MustParseAddr(ip.Address) // validated by config
		}
		ips = append(ips, pool.IP{Addr: addr, EHLO: ip.EHLO, Weight: ip.Weight})
	}
	n.pool = pool.New(ips, nil, nil)
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
	m.SetQueueCounts(func() map[queue.Status]int {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := st.Counts(ctx)
		if err != nil {
			return nil
		}
		return c
	})

	courier := deliver.New(deliver.Config{
		Resolver:              resolver,
		Pool:                  n.pool,
		Store:                 st,
		Classifier:            classifier,
		Port:                  cfg.Delivery.Port,
		AllowedNetworks:       allowed,
		ConnectTimeout:        cfg.Delivery.ConnectTimeout.D(),
		MessagesPerConnection: cfg.Delivery.MessagesPerConnection,
		Logger:                logger,
	})
	retry := make([]time.Duration, len(cfg.Delivery.Retry))
	for i, d := range cfg.Delivery.Retry {
		retry[i] = d.D()
	}
	sched := queue.NewScheduler(st, observed{courier, m}, queue.SchedulerConfig{
		Owner:         nodeID(cfg),
		Workers:       cfg.Delivery.Workers,
		PerConnection: cfg.Delivery.MessagesPerConnection,
		Retry:         retry,
		PoolSize:      len(ips),
		Logger:        logger,
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

	n.intake = intake.New(intake.Config{
		Accounts:     st,
		Queue:        st,
		Logger:       logger,
		MaxQueueTime: cfg.Delivery.MaxQueueTime.D(),
		OnQueued:     sched.Wake,
	})
	tlsConfig, err := loadTLS(cfg)
	if err != nil {
		return nil, err
	}
	smtp, err := smtpd.New(smtpd.Config{
		Intake:            n.intake,
		Hostname:          cfg.Server.Hostname,
		TLS:               tlsConfig,
		AllowInsecureAuth: cfg.Submission.AllowInsecureAuth,
		MaxMessageSize:    int64(cfg.Submission.MaxMessageSize),
		MaxRecipients:     cfg.Submission.MaxRecipients,
		Logger:            logger,
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

	if cfg.HTTP.Listen != "" {
		h := api.New(api.Config{
			Queue:    st,
			Accounts: st,
			IPs:      poolIPs{n.pool},
			Token:    cfg.HTTP.AdminToken,
			Gatherer: reg,
			Logger:   logger,
		})
		srv, addr, err := listenHTTP(cfg.HTTP.Listen, h, logger)
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

// observed records every delivery attempt in the metrics.
type observed struct {
	queue.Courier
	m *metrics.Metrics
}

func (o observed) Deliver(ctx context.Context, group []*queue.Lease) []queue.Result {
	rs := o.Courier.Deliver(ctx, group)
	for _, r := range rs {
		if !r.Attempt.Time.IsZero() {
			o.m.Attempt(string(r.Verdict), r.Attempt.SourceIP, r.Attempt.Duration)
		}
	}
	return rs
}

// poolIPs shows the pool in the API.
type poolIPs struct{ p *pool.Pool }

func (s poolIPs) IPs(ctx context.Context) []api.IPStatus {
	var out []api.IPStatus
	for _, ip := range s.p.IPs() {
		out = append(out, api.IPStatus{Address: ip.String(), EHLO: ip.EHLO, Weight: ip.Weight, Status: api.IPActive})
	}
	return out
}
