package pool

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"sendpool/internal/dns"
	"sendpool/internal/dnsbl"
	"sendpool/internal/state"
)

// DNSBLWatchConfig configures a DNSBLWatch.
type DNSBLWatchConfig struct {
	Resolver dns.Resolver
	Zones    []string // e.g. zen.spamhaus.org
	IPs      []IP
	Tracker  *Tracker
	// Interval between rounds (pool.dnsbl_interval); 0: 10 minutes.
	Interval time.Duration
	// Cooldown is how long a listed IP must have been seen clear before it
	// returns (pool.dnsbl_cooldown); 0: one hour.
	Cooldown time.Duration
	Logger   *slog.Logger     // nil: discard
	Now      func() time.Time // nil: time.Now
}

// DNSBLWatch looks the pool's own IPs up on DNSBLs, so that a listed IP stops
// sending before receivers start refusing it. A listed IP is suspended for
// the whole pool (source "dnsbl") and returns once it has been clear for the
// cool-down. Only the watch lifts its own suspensions; a receiver's or an
// admin's it leaves alone.
type DNSBLWatch struct {
	cfg DNSBLWatchConfig
	log *slog.Logger

	mu         sync.Mutex
	clearSince map[string]time.Time // IP → first round it was seen clear while suspended
}

// NewDNSBLWatch returns a DNSBL watch; Run starts it.
func NewDNSBLWatch(cfg DNSBLWatchConfig) *DNSBLWatch {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &DNSBLWatch{cfg: cfg, log: cfg.Logger, clearSince: map[string]time.Time{}}
}

// Run checks at once and then every Interval until ctx ends.
func (c *DNSBLWatch) Run(ctx context.Context) {
	if len(c.cfg.Zones) == 0 {
		return
	}
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	for {
		c.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Check does one round: every IP on every zone, the IPs in parallel.
func (c *DNSBLWatch) Check(ctx context.Context) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8) // a big pool must not flood the resolver
	for _, ip := range c.cfg.IPs {
		if !ip.Addr.IsValid() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			c.checkIP(ctx, ip)
		}()
	}
	wg.Wait()
}

func (c *DNSBLWatch) checkIP(ctx context.Context, ip IP) {
	addr := ip.String()
	var listed []string
	for _, zone := range c.cfg.Zones {
		res, err := dnsbl.Lookup(ctx, c.cfg.Resolver, zone, ip.Addr)
		if err != nil {
			// Unknown is neither listed nor clear: leave things as they are.
			if ctx.Err() == nil {
				c.log.Warn("DNSBL lookup failed", "ip", addr, "zone", zone, "err", err)
			}
			return
		}
		if res.Listed {
			listed = append(listed, zone+": "+res.Reason)
		}
	}
	now := c.cfg.Now()
	if len(listed) > 0 {
		c.mu.Lock()
		delete(c.clearSince, addr)
		c.mu.Unlock()
		// Renewed every round, and long enough to outlast the rounds that
		// lift it: should the watch stop (config changed, node gone), the
		// suspension still ends by itself.
		s := state.Suspension{IP: addr, Scope: state.ScopePool, Source: SourceDNSBL,
			Reason: "listed on " + strings.Join(listed, "; "),
			Since:  now, Until: now.Add(3*c.cfg.Interval + c.cfg.Cooldown)}
		if cur, ok := c.current(addr); ok && cur.Source == SourceDNSBL {
			s.Since = cur.Since
		} else if ok && cur.Until.After(now.Add(c.cfg.Interval)) {
			// A receiver or an admin keeps it out for now; replacing theirs
			// would let the delisting end it early. A later round takes over.
			return
		}
		if _, err := c.cfg.Tracker.Suspend(ctx, s); err != nil {
			c.log.Error("suspending listed IP", "ip", addr, "err", err)
		}
		return
	}
	cur, ok := c.current(addr)
	if !ok || cur.Source != SourceDNSBL {
		c.mu.Lock()
		delete(c.clearSince, addr)
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	since, seen := c.clearSince[addr]
	if !seen {
		since = now
		c.clearSince[addr] = now
	}
	c.mu.Unlock()
	if now.Sub(since) < c.cfg.Cooldown {
		return
	}
	if _, err := c.cfg.Tracker.Resume(ctx, addr, state.ScopePool, SourceDNSBL); err != nil {
		c.log.Error("resuming delisted IP", "ip", addr, "err", err)
		return
	}
	c.mu.Lock()
	delete(c.clearSince, addr)
	c.mu.Unlock()
}

// current is addr's pool-wide suspension in the tracker's snapshot.
func (c *DNSBLWatch) current(addr string) (state.Suspension, bool) {
	for _, list := range c.cfg.Tracker.Suspensions() {
		for _, s := range list {
			if s.IP == addr && s.Scope == state.ScopePool {
				return s, true
			}
		}
	}
	return state.Suspension{}, false
}
