package pool

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"sendpool/internal/state"
)

// Sources of a suspension (state.Suspension.Source).
const (
	SourceReceiver = "receiver" // a receiver's reply said the IP is blocked
	SourceDNSBL    = "dnsbl"    // the IP is listed on a configured DNSBL
	SourceAdmin    = "admin"    // suspended by hand
)

// Gauge records whether an IP is suspended for a scope; *metrics.Metrics
// satisfies it (sendpool_ip_suspended{ip,scope}).
type Gauge interface {
	SetSuspended(ip, scope string, on bool)
}

// TrackerConfig configures a Tracker.
type TrackerConfig struct {
	State state.State
	// SuspendFor is how long a receiver's block keeps an IP out
	// (pool.suspend_for, whose default config keeps).
	SuspendFor time.Duration
	// Refresh is how often the snapshot is read from State; 0: 300ms, so a
	// suspension made on another node is honoured within a second.
	Refresh time.Duration
	Gauge   Gauge            // nil: none
	Logger  *slog.Logger     // nil: discard
	Now     func() time.Time // nil: time.Now
	// OnSuspended, if set, is told of each suspension this tracker makes
	// (not a renewal of one in force, nor a shorter one left aside);
	// OnResumed of each that ends: by Resume here, or by time, which every
	// node's Refresh sees (the hook decides which node tells). Webhooks
	// (ip_suspended, ip_resumed) hang here.
	OnSuspended func(ctx context.Context, s state.Suspension)
	OnResumed   func(ctx context.Context, s state.Suspension)
}

// Tracker is the pool's Health over the shared state: suspensions live in
// state.State, so every node honours them, and the tracker keeps a local
// snapshot of them, refreshed every Refresh and at once after a change made
// here, so that Usable, asked on every pick, costs a map lookup.
type Tracker struct {
	cfg TrackerConfig
	log *slog.Logger

	refreshMu sync.Mutex // one refresh at a time: an older read never wins

	mu   sync.RWMutex
	snap map[netip.Addr][]state.Suspension
	seen map[[2]string]state.Suspension // (ip, scope) → as last seen, for the gauge and the log
}

var _ Health = (*Tracker)(nil)

// NewTracker returns a tracker with an empty snapshot; call Refresh (or
// Run) before relying on it.
func NewTracker(cfg TrackerConfig) *Tracker {
	if cfg.Refresh <= 0 {
		cfg.Refresh = 300 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Tracker{cfg: cfg, log: cfg.Logger, snap: map[netip.Addr][]state.Suspension{}, seen: map[[2]string]state.Suspension{}}
}

// SuspendFor is the default duration of a suspension.
func (t *Tracker) SuspendFor() time.Duration { return t.cfg.SuspendFor }

// Run refreshes the snapshot every Refresh until ctx ends.
func (t *Tracker) Run(ctx context.Context) {
	tick := time.NewTicker(t.cfg.Refresh)
	defer tick.Stop()
	for {
		if err := t.Refresh(ctx); err != nil && ctx.Err() == nil {
			t.log.Warn("reading IP suspensions", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Refresh reads the suspensions in force from State into the snapshot. On
// failure the previous snapshot stays: a state backend that is down must not
// put blocked IPs back to work.
func (t *Tracker) Refresh(ctx context.Context) error {
	t.refreshMu.Lock()
	defer t.refreshMu.Unlock()
	now := t.cfg.Now()
	list, err := t.cfg.State.Suspensions(ctx, now)
	if err != nil {
		return err
	}
	snap := map[netip.Addr][]state.Suspension{}
	cur := map[[2]string]state.Suspension{}
	for _, s := range list {
		a, err := netip.ParseAddr(s.IP)
		if err != nil {
			continue
		}
		snap[a] = append(snap[a], s)
		cur[[2]string{s.IP, s.Scope}] = s
	}
	// The gauge moves before the snapshot does (refreshMu keeps seen to
	// us), so that whoever sees the new snapshot, through the API say,
	// finds the metric agreeing.
	t.mu.RLock()
	prev := t.seen
	t.mu.RUnlock()
	for k, s := range cur {
		if _, ok := prev[k]; !ok {
			t.gauge(s.IP, s.Scope, true)
		}
	}
	for k, s := range prev {
		if _, ok := cur[k]; !ok {
			t.gauge(s.IP, s.Scope, false)
		}
	}
	t.mu.Lock()
	t.snap, t.seen = snap, cur
	t.mu.Unlock()

	for k, s := range prev {
		if _, ok := cur[k]; !ok && !now.Before(s.Until) {
			t.log.Info("IP suspension ended", "ip", s.IP, "scope", s.Scope, "source", s.Source, "reason", s.Reason)
			if t.cfg.OnResumed != nil {
				t.cfg.OnResumed(ctx, s)
			}
		}
	}
	return nil
}

func (t *Tracker) gauge(ip, scope string, on bool) {
	if t.cfg.Gauge != nil {
		t.cfg.Gauge.SetSuspended(ip, scope, on)
	}
}

// Usable implements Health: ip may send to destination unless a
// suspension for the whole pool, or for that destination, is in force.
func (t *Tracker) Usable(ip netip.Addr, destination string) bool {
	return t.UsableAt(ip, destination).IsZero()
}

// UsableAt returns when ip may send to destination again, the zero time
// when it may now.
func (t *Tracker) UsableAt(ip netip.Addr, destination string) time.Time {
	t.mu.RLock()
	list := t.snap[ip]
	t.mu.RUnlock()
	if len(list) == 0 {
		return time.Time{}
	}
	now := t.cfg.Now()
	var until time.Time
	for _, s := range list {
		if (s.Scope == state.ScopePool || s.Scope == destination) && now.Before(s.Until) && s.Until.After(until) {
			until = s.Until
		}
	}
	return until
}

// Suspensions returns the snapshot: every suspension in force, by IP.
func (t *Tracker) Suspensions() map[netip.Addr][]state.Suspension {
	now := t.cfg.Now()
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make(map[netip.Addr][]state.Suspension, len(t.snap))
	for a, list := range t.snap {
		for _, s := range list {
			if now.Before(s.Until) {
				out[a] = append(out[a], s)
			}
		}
	}
	return out
}

// Block suspends ip for scope ("pool" or a provider) for SuspendFor,
// because a receiver refused it with reply.
func (t *Tracker) Block(ctx context.Context, ip, scope, reply string) error {
	if scope == "" {
		scope = state.ScopePool
	}
	now := t.cfg.Now()
	_, err := t.Suspend(ctx, state.Suspension{IP: ip, Scope: scope, Reason: reply, Source: SourceReceiver, Since: now, Until: now.Add(t.cfg.SuspendFor)})
	return err
}

// Suspend records s, logs it and refreshes the snapshot. An empty Scope is
// the whole pool; a zero Since is now and a zero Until now+SuspendFor. Only
// an admin may shorten a suspension in force: a shorter one from a receiver
// or a DNSBL leaves the longer in place (done is false), so that, say, a
// DNSBL listing that clears cannot lift a receiver's block.
func (t *Tracker) Suspend(ctx context.Context, s state.Suspension) (done bool, err error) {
	now := t.cfg.Now()
	if s.Scope == "" {
		s.Scope = state.ScopePool
	}
	if s.Since.IsZero() {
		s.Since = now
	}
	if s.Until.IsZero() {
		s.Until = now.Add(t.cfg.SuspendFor)
	}
	list, err := t.cfg.State.Suspensions(ctx, now)
	if err != nil {
		return false, err
	}
	renewal := false
	for _, old := range list {
		if old.IP != s.IP || old.Scope != s.Scope {
			continue
		}
		if s.Source != SourceAdmin && !old.Until.Before(s.Until) {
			return false, nil
		}
		renewal = old.Source == s.Source && old.Reason == s.Reason
	}
	if err := t.cfg.State.Suspend(ctx, s); err != nil {
		return false, err
	}
	level := slog.LevelWarn
	if renewal {
		level = slog.LevelDebug // a DNSBL listing renewed every round
	}
	t.log.Log(ctx, level, "IP suspended", "ip", s.IP, "scope", s.Scope, "source", s.Source, "until", s.Until, "reason", s.Reason)
	if !renewal && t.cfg.OnSuspended != nil {
		t.cfg.OnSuspended(ctx, s)
	}
	return true, t.Refresh(ctx)
}

// Resume ends ip's suspensions for scope ("": every scope) made by source
// ("": any), logs it and refreshes the snapshot. It reports whether one
// was in force.
func (t *Tracker) Resume(ctx context.Context, ip, scope, source string) (bool, error) {
	list, err := t.cfg.State.Suspensions(ctx, t.cfg.Now())
	if err != nil {
		return false, err
	}
	found := false
	for _, s := range list {
		if s.IP != ip || (scope != "" && s.Scope != scope) || (source != "" && s.Source != source) {
			continue
		}
		if err := t.cfg.State.Resume(ctx, s.IP, s.Scope); err != nil {
			return found, err
		}
		found = true
		t.log.Info("IP resumed", "ip", s.IP, "scope", s.Scope, "source", s.Source, "reason", s.Reason)
		if t.cfg.OnResumed != nil {
			t.cfg.OnResumed(ctx, s)
		}
	}
	return found, t.Refresh(ctx)
}
