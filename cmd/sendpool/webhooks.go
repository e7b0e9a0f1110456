package main

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"sendpool/internal/addrpolicy"
	"sendpool/internal/api"
	"sendpool/internal/config"
	"sendpool/internal/dns"
	"sendpool/internal/dnsrec"
	"sendpool/internal/domain"
	"sendpool/internal/metrics"
	"sendpool/internal/queue"
	"sendpool/internal/state"
	"sendpool/internal/webhook"
)

// webhooks are the events out ([webhook]): the emitter the other parts
// call, the sender and the janitor that run on every node, the DNS watch,
// and the API's service. Off (nil) when the store keeps no outbox.
type webhooks struct {
	emitter *webhook.Emitter
	service *webhook.Service
	store   webhook.Store
	shared  state.State
	cfg     *config.Config
	logger  *slog.Logger
	cancel  context.CancelFunc
	done    []chan struct{}
}

// startWebhooks wires the webhooks over raw (the store as opened) and
// starts the sender and the janitor until stop.
func startWebhooks(ctx context.Context, cfg *config.Config, raw store, shared state.State, resolver dns.Resolver,
	allowed []netip.Prefix, reg *prometheus.Registry, logger *slog.Logger) *webhooks {
	st, ok := raw.(webhook.Store)
	if !ok {
		logger.Warn("webhook: the store keeps no outbox: no webhooks, no feed", "store", cfg.Store.Backend)
		return nil
	}
	w := &webhooks{store: st, shared: shared, cfg: cfg, logger: logger}
	// The embedded store has one node: no Put of a previous run is still
	// in flight, so its accepted events are decided now, not after
	// webhook.SettleWithin (the feed would wait at them meanwhile).
	if s, ok := raw.(interface{ SettleAll(context.Context) error }); ok {
		if err := s.SettleAll(ctx); err != nil {
			logger.Error("webhook: settle the events of a previous run", "err", err)
		}
	}
	wc := cfg.Webhook
	eps := webhook.NewEndpoints(st, config.WebhookEndpointCache)
	client := webhook.NewClient(resolver, addrpolicy.Policy{Allowed: allowed})
	m := metrics.NewWebhook(reg, w.depth, func() int { return disabledCount(eps) })
	retry := make([]time.Duration, len(wc.Retry))
	for i, d := range wc.Retry {
		retry[i] = d.D()
	}
	var sender *webhook.Sender
	atomic, _ := raw.(webhook.AtomicPut) // the embedded store: accepted events in Put's own transaction
	msgs, _ := raw.(webhook.Messages)
	w.emitter = webhook.NewEmitter(webhook.EmitterConfig{
		Atomic: atomic,
		Store:  st, Endpoints: eps, Messages: msgs, SuppressFor: cfg.Suppression.TTL.D(), Once: w.once,
		Logger: logger, Metrics: m, OnAppend: func() { sender.Wake() },
	})
	sender = webhook.NewSender(webhook.SenderConfig{
		Store: st, Endpoints: eps, Client: client, Owner: nodeID(cfg), Logger: logger, Metrics: m,
		Timeout: wc.Timeout.D(), Concurrency: wc.Concurrency, LeaseFor: config.WebhookLeaseFor,
		Poll: config.WebhookPoll, Retry: retry, RetryFor: wc.RetryFor.D(), DisableAfter: wc.DisableAfter.D(),
		OnDisabled: w.emitter.EndpointDisabled,
	})
	w.service = webhook.NewService(webhook.ServiceConfig{Store: st, Endpoints: eps, Client: client,
		RotateGrace: wc.RotateGrace.D(), Logger: logger})
	janitor := webhook.NewJanitor(webhook.JanitorConfig{Store: st, Retention: wc.Retention.D(), RetryFor: wc.RetryFor.D(),
		Interval: config.WebhookRepairInterval, Sweep: config.WebhookSweepInterval, Batch: config.WebhookSweepBatch,
		Logger: logger, Metrics: m})
	rctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	w.run(func() { sender.Run(rctx) })
	w.run(func() { janitor.Run(rctx) })
	return w
}

// run runs fn in the background until stop.
func (w *webhooks) run(fn func()) {
	done := make(chan struct{})
	w.done = append(w.done, done)
	go func() { defer close(done); fn() }()
}

// watchDNS starts the checks of the domains' records behind
// domain_dns_error, when domains are kept and webhook.dns_check_interval
// is set.
func (w *webhooks) watchDNS(ctx context.Context, d *domains) {
	if w == nil || d == nil || w.cfg.Webhook.DNSCheckInterval <= 0 {
		return
	}
	checker := d.api.Checker
	watch := webhook.NewDNSWatch(webhook.DNSWatchConfig{
		Domains: d.api.Store,
		Check: func(ctx context.Context, dom *domain.Domain) *dnsrec.Report {
			return checker.Check(ctx, dom, time.Now())
		},
		Emitter:  w.emitter,
		Interval: w.cfg.Webhook.DNSCheckInterval.D(),
		Repeat:   config.WebhookDNSRepeat,
		Once:     w.once,
		Logger:   w.logger,
	})
	w.run(func() { watch.Run(ctx) })
}

// stop ends the background work, then waits for events still being
// written: call it after the scheduler and intake stopped, before the store
// closes.
func (w *webhooks) stop() error {
	if w == nil {
		return nil
	}
	w.cancel()
	for _, d := range w.done {
		<-d
	}
	return w.emitter.Close()
}

// once takes key in the shared state for within: of the nodes that all
// see a thing happen, the first tells it. If the state cannot say, this
// node tells it (twice rather than never).
func (w *webhooks) once(ctx context.Context, key string, within time.Duration) bool {
	d, err := w.shared.Take(ctx, key, 1, time.Now(), []state.Window{{Size: within, Max: 1}})
	return err != nil || d.Allowed
}

// depth is the outbox's depth for the gauge; -1 when the store cannot say.
func (w *webhooks) depth() int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := w.store.Pending(ctx)
	if err != nil {
		return -1
	}
	return n
}

func disabledCount(eps *webhook.Endpoints) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, err := eps.List(ctx)
	if err != nil {
		return -1
	}
	n := 0
	for _, e := range list {
		if e.Disabled {
			n++
		}
	}
	return n
}

// The hooks the other parts take; each is nil (or the part as it was)
// when webhooks are off.

func (w *webhooks) outcomes() func(context.Context, []queue.BounceItem) {
	if w == nil {
		return nil
	}
	return w.emitter.Outcomes
}

func (w *webhooks) queue(q queue.Store) queue.Store {
	if w == nil {
		return q
	}
	return w.emitter.Queue(q)
}

func (w *webhooks) held() func(context.Context, string, string) {
	if w == nil {
		return nil
	}
	return w.emitter.Held
}

func (w *webhooks) tracker() trackerHooks {
	if w == nil {
		return trackerHooks{}
	}
	return trackerHooks{suspended: w.emitter.Suspended, resumed: w.emitter.Resumed}
}

func (w *webhooks) routes() api.Webhooks {
	if w == nil {
		return nil // an untyped nil: no routes
	}
	return w.service
}

// trackerHooks are the pool tracker's webhook hooks.
type trackerHooks struct {
	suspended, resumed func(context.Context, state.Suspension)
}
