// Package health answers a node's health check (GET /healthz, SPEC §7):
// each part the node depends on (the store, the shared state, the disk)
// is probed, each within a short timeout, and the answer names the parts
// that fail. "ok" must mean that the node can take and keep mail: a load
// balancer sends submissions elsewhere on anything else (issue 13: a node
// whose store was corrupt answered every message 451 and "ok" here).
package health

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Probe checks one part.
type Probe struct {
	Name string // "store", "state", "disk": how the answer names it
	// Check fails when the part does. Its error is logged, not shown
	// (it may name servers, files or a URL with credentials), unless it
	// is a Reason; else the answer says Failed.
	Check  func(ctx context.Context) error
	Failed string // e.g. "write failed"
}

// Reason is a failure whose text may be shown as it is.
type Reason string

func (r Reason) Error() string { return string(r) }

// Config is what a Checker needs.
type Config struct {
	Probes []Probe
	// Timeout bounds each probe; CacheFor is how long one round of
	// probes answers every check (a flood of /healthz, which needs no
	// token, must not become a flood of store writes).
	Timeout  time.Duration
	CacheFor time.Duration
	Logger   *slog.Logger // nil: discard
}

// Checker runs the probes. Safe for concurrent use.
type Checker struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	at      time.Time     // of the last round
	last    []string      // its failures
	running chan struct{} // closed when the round under way ends
	failing map[string]bool
}

// New returns a Checker.
func New(cfg Config) *Checker {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Checker{cfg: cfg, log: cfg.Logger, failing: map[string]bool{}}
}

// Check returns the failing parts, one line each ("state: no answer within
// 2s"), in the order of Config.Probes; none when every part is healthy.
// Concurrent calls share one round of probes.
func (c *Checker) Check(ctx context.Context) []string {
	c.mu.Lock()
	if c.running == nil && (c.at.IsZero() || time.Since(c.at) >= c.cfg.CacheFor) {
		c.running = make(chan struct{})
		go c.round(c.running)
	}
	running := c.running
	last := c.last
	c.mu.Unlock()
	if running == nil {
		return last
	}
	select {
	case <-running:
	case <-ctx.Done():
		return []string{"health: no answer in time"}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// round probes every part at once.
func (c *Checker) round(done chan struct{}) {
	results := make([]string, len(c.cfg.Probes))
	errs := make([]error, len(c.cfg.Probes))
	var wg sync.WaitGroup
	for i, p := range c.cfg.Probes {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
			defer cancel()
			err := p.Check(ctx)
			switch {
			case err == nil:
				return
			case ctx.Err() != nil:
				results[i] = p.Name + ": no answer within " + c.cfg.Timeout.String()
			default:
				var r Reason
				if errors.As(err, &r) {
					results[i] = p.Name + ": " + string(r)
				} else {
					results[i] = p.Name + ": " + p.Failed
				}
			}
			errs[i] = err
		})
	}
	wg.Wait()
	var failed []string
	for i, p := range c.cfg.Probes {
		c.logChange(p.Name, errs[i])
		if results[i] != "" {
			failed = append(failed, results[i])
		}
	}
	c.mu.Lock()
	c.at, c.last, c.running = time.Now(), failed, nil
	c.mu.Unlock()
	close(done)
}

// logChange logs a part that starts or stops failing, once each time.
func (c *Checker) logChange(name string, err error) {
	c.mu.Lock()
	was := c.failing[name]
	c.failing[name] = err != nil
	c.mu.Unlock()
	switch {
	case err != nil && !was:
		c.log.Error("health: "+name+" failing", "err", err)
	case err == nil && was:
		c.log.Info("health: " + name + " healthy again")
	}
}
