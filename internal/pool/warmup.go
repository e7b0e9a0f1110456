package pool

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"sendpool/internal/state"
)

// warmupWindow is the span a warm-up cap counts over: a rolling day, so
// that a burst just before midnight and another just after cannot double
// the day's volume.
const warmupWindow = 24 * time.Hour

// retryAfterError is how long an IP in warm-up stays out after the state
// backend failed to count for it: its cap cannot be checked, and an IP's
// reputation is worth a short wait.
const retryAfterError = time.Minute

// WarmIP is an IP in warm-up.
type WarmIP struct {
	Addr netip.Addr
	// Start is midnight (UTC) of its first day, pool.ip.warmup_start.
	Start    time.Time
	Name     string // the schedule's name, for display
	Schedule Schedule
}

// HeldCounter counts deliveries a warm-up cap held back;
// *metrics.Metrics implements it (sendpool_warmup_held_total).
type HeldCounter interface {
	WarmupHeld(ip, provider string, n int)
}

// WarmupConfig configures a Warmup.
type WarmupConfig struct {
	State state.State
	IPs   []WarmIP
	// Stall is the share of deferred attempts at a provider, over the
	// last hour, above which an IP's ramp there stands still
	// (pool.warmup_stall; stall.go); 0: never.
	Stall  float64
	Held   HeldCounter      // nil: none
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now
}

// Warmup enforces the daily caps of IPs in warm-up. Deliveries are counted
// in the shared state per IP and provider over a rolling day, so every node
// draws on one count. As a Health it keeps an IP whose cap for a provider
// is reached from being picked for that provider until the cap frees; it
// learns that from its own refusals (Admit), so checking costs a map
// lookup. An IP not in warm-up, or past its schedule, costs nothing more:
// no state call is ever made for it.
type Warmup struct {
	cfg WarmupConfig
	log *slog.Logger
	ips map[netip.Addr]WarmIP // read-only after NewWarmup

	mu     sync.Mutex
	capped map[cappedKey]time.Time // (ip, bucket) → when to ask the state again
	stalls map[cappedKey]stall     // (ip, bucket) → its ramp's stand-still (stall.go)
}

type cappedKey struct {
	ip     netip.Addr
	bucket string
}

var _ untilHealth = (*Warmup)(nil)

// NewWarmup returns the warm-up of cfg.IPs.
func NewWarmup(cfg WarmupConfig) *Warmup {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Warmup{cfg: cfg, log: cfg.Logger, ips: map[netip.Addr]WarmIP{}, capped: map[cappedKey]time.Time{},
		stalls: map[cappedKey]stall{}}
	for _, ip := range cfg.IPs {
		w.ips[ip.Addr] = ip
	}
	return w
}

// warming returns ip's warm-up and its day at now for destination's
// bucket; ok is false when ip is warm there (never in warm-up, or past its
// schedule).
func (w *Warmup) warming(ip netip.Addr, destination string, now time.Time) (wi WarmIP, b string, day int, ok bool) {
	wi, ok = w.ips[ip]
	if !ok {
		return WarmIP{}, "", 0, false
	}
	b = wi.Schedule.Bucket(destination)
	day = w.day(wi, b, now)
	return wi, b, day, day <= wi.Schedule.Days
}

// Usable implements Health.
func (w *Warmup) Usable(ip netip.Addr, destination string) bool {
	return w.UsableAt(ip, destination).IsZero()
}

// UsableAt returns when ip's cap for destination frees, as last learned;
// the zero time when it may send now.
func (w *Warmup) UsableAt(ip netip.Addr, destination string) time.Time {
	if _, ok := w.ips[ip]; !ok {
		return time.Time{}
	}
	now := w.cfg.Now()
	_, b, _, ok := w.warming(ip, destination, now)
	if !ok {
		return time.Time{}
	}
	k := cappedKey{ip, b}
	w.mu.Lock()
	until := w.capped[k]
	w.mu.Unlock()
	if now.Before(until) {
		return until
	}
	return time.Time{}
}

// Admit counts n deliveries about to be attempted from ip to destination
// and reports whether ip's cap allows them. A refusal counts nothing and
// keeps ip from being picked for destination until the cap frees (or the
// next day's cap is larger). More recipients than a whole day's cap count
// as the whole cap, so that one large message is never stuck for good.
func (w *Warmup) Admit(ctx context.Context, ip netip.Addr, destination string, n int) bool {
	if _, ok := w.ips[ip]; !ok {
		return true
	}
	now := w.cfg.Now()
	wi, b, day, ok := w.warming(ip, destination, now)
	if !ok {
		return true
	}
	limit := wi.Schedule.Limit(b, day)
	d, err := w.cfg.State.Take(ctx, key(ip, b), min(max(n, 1), limit), now, []state.Window{{Size: warmupWindow, Max: limit}})
	if err == nil && d.Allowed {
		return true
	}
	w.mu.Lock()
	until := dayEnd(wi.Start.Add(w.stalls[cappedKey{ip, b}].shift(now)), day)
	w.mu.Unlock()
	if err != nil {
		w.log.Warn("counting warm-up deliveries", "source_ip", ip.String(), "provider", b, "err", err)
		until = now.Add(retryAfterError)
	} else if d.Frees.After(now) && d.Frees.Before(until) {
		until = d.Frees
	}
	w.mu.Lock()
	first := !now.Before(w.capped[cappedKey{ip, b}])
	w.capped[cappedKey{ip, b}] = until
	w.mu.Unlock()
	if first && err == nil {
		w.log.Info("IP warm-up cap reached", "source_ip", ip.String(), "provider", b, "day", day, "cap", limit, "until", until)
	}
	if w.cfg.Held != nil {
		w.cfg.Held.WarmupHeld(ip.String(), b, n)
	}
	return false
}

// ProviderUsage is an IP's use of one provider's cap.
type ProviderUsage struct {
	Provider string
	Used     int // deliveries counted in the last 24 hours
	Cap      int // today's cap
	// Day is the IP's day there: the calendar's less the time its ramp
	// stood still for deferrals (stall.go); Stalled says it stands still
	// now.
	Day     int
	Stalled bool
}

// WarmupStatus is an IP's place in its warm-up.
type WarmupStatus struct {
	Schedule  string
	Start     time.Time
	Day       int // 1 is the first day, by the calendar
	Days      int // warm after this day
	Providers []ProviderUsage
}

// Status returns ip's warm-up; ok is false when ip is warm. It reads the
// shared counts (one call per provider): for the API, not the hot path.
func (w *Warmup) Status(ctx context.Context, ip netip.Addr) (st WarmupStatus, ok bool, err error) {
	now := w.cfg.Now()
	wi, ok := w.ips[ip]
	if !ok {
		return WarmupStatus{}, false, nil
	}
	st = WarmupStatus{Schedule: wi.Name, Start: wi.Start, Day: Day(wi.Start, now), Days: wi.Schedule.Days}
	warming := false
	for _, b := range wi.Schedule.Buckets() {
		n, err := w.cfg.State.Count(ctx, key(ip, b), now, warmupWindow)
		if err != nil {
			return st, true, err
		}
		day := w.day(wi, b, now)
		w.mu.Lock()
		stalled := !w.stalls[cappedKey{ip, b}].Since.IsZero()
		w.mu.Unlock()
		warming = warming || day <= wi.Schedule.Days
		st.Providers = append(st.Providers, ProviderUsage{Provider: b, Used: n, Cap: wi.Schedule.Limit(b, day),
			Day: day, Stalled: stalled})
	}
	return st, warming, nil
}

// key is the state key of ip's count for bucket.
func key(ip netip.Addr, bucket string) string {
	return "warmup:" + ip.String() + ":" + bucket
}
