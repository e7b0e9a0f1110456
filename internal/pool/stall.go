package pool

import (
	"context"
	"encoding/json"
	"math"
	"net/netip"
	"time"

	"sendpool/internal/state"
)

// A new IP's warm-up ramp must not climb while a provider is pushing back:
// growing the volume an IP sends where its mail is being deferred teaches
// the provider that the new sender ignores it. So the ramp stands still, per
// provider, while the IP's share of deferred attempts there over the last
// stallWindow is above WarmupConfig.Stall: its day there stops advancing,
// and resumes where it stood once the deferrals drop.

// stallWindow is the span the deferral share is judged over.
const stallWindow = time.Hour

// stallMinAttempts is how many attempts make a share worth judging.
const stallMinAttempts = 20

// stallRecheck is how often a node reads the shared counts again.
const stallRecheck = 10 * time.Second

// stall is one (IP, provider bucket)'s standing: how long its ramp stood
// still before, and since when it stands still now (zero: it moves).
type stall struct {
	Shift time.Duration `json:"shift"`
	Since time.Time     `json:"since"`
	// checked is when this node last read the counts (not shared).
	checked time.Time
}

// shift is how far the ramp's start has moved at now.
func (s stall) shift(now time.Time) time.Duration {
	if s.Since.IsZero() || now.Before(s.Since) {
		return s.Shift
	}
	return s.Shift + now.Sub(s.Since)
}

func stallKey(ip netip.Addr, bucket string) string {
	return "warmup:stall:" + ip.String() + ":" + bucket
}
func attemptsKey(ip netip.Addr, bucket string) string {
	return "warmup:attempts:" + ip.String() + ":" + bucket
}
func deferralsKey(ip netip.Addr, bucket string) string {
	return "warmup:deferred:" + ip.String() + ":" + bucket
}

// Observe counts one attempt's outcome from ip to destination, for an IP
// in warm-up (others cost nothing), and starts or ends the ramp's stand
// still when the share of deferrals crosses WarmupConfig.Stall.
func (w *Warmup) Observe(ctx context.Context, ip netip.Addr, destination string, deferred bool) {
	now := w.cfg.Now()
	_, b, _, ok := w.warming(ip, destination, now)
	if !ok || w.cfg.Stall <= 0 {
		return
	}
	// Counting only: the windows never refuse.
	all := []state.Window{{Size: stallWindow, Max: math.MaxInt32}}
	if _, err := w.cfg.State.Take(ctx, attemptsKey(ip, b), 1, now, all); err != nil {
		w.log.Warn("counting a warm-up IP's attempts", "source_ip", ip.String(), "provider", b, "err", err)
		return
	}
	if deferred {
		if _, err := w.cfg.State.Take(ctx, deferralsKey(ip, b), 1, now, all); err != nil {
			return
		}
	}
	k := cappedKey{ip, b}
	w.mu.Lock()
	st := w.stalls[k]
	due := now.Sub(st.checked) >= stallRecheck
	if due {
		st.checked = now
		w.stalls[k] = st
	}
	w.mu.Unlock()
	if due {
		w.judge(ctx, ip, b, now)
	}
}

// judge reads the shared counts and stall of (ip, b) and starts or ends
// the stand-still.
func (w *Warmup) judge(ctx context.Context, ip netip.Addr, b string, now time.Time) {
	n, err := w.cfg.State.Count(ctx, attemptsKey(ip, b), now, stallWindow)
	if err != nil {
		return
	}
	d, err := w.cfg.State.Count(ctx, deferralsKey(ip, b), now, stallWindow)
	if err != nil {
		return
	}
	st, err := w.readStall(ctx, ip, b)
	if err != nil {
		return
	}
	high := n >= stallMinAttempts && float64(d)/float64(n) > w.cfg.Stall
	switch {
	case high && st.Since.IsZero():
		st.Since = now
		w.log.Warn("IP warm-up stands still: too many deferrals", "source_ip", ip.String(), "provider", b,
			"deferred", d, "attempts", n)
	case !high && !st.Since.IsZero():
		st.Shift, st.Since = st.shift(now), time.Time{}
		w.log.Info("IP warm-up moves on", "source_ip", ip.String(), "provider", b, "stood_still", st.Shift)
	default:
		w.keepStall(ip, b, st, now)
		return
	}
	v, _ := json.Marshal(st) // plain fields
	// Kept for the schedule's length and a margin: past it the IP is warm.
	if err := w.cfg.State.Set(ctx, stallKey(ip, b), v, 400*24*time.Hour); err != nil {
		w.log.Warn("recording a warm-up stand-still", "source_ip", ip.String(), "provider", b, "err", err)
		return
	}
	w.keepStall(ip, b, st, now)
}

func (w *Warmup) readStall(ctx context.Context, ip netip.Addr, b string) (stall, error) {
	var st stall
	v, ok, err := w.cfg.State.Get(ctx, stallKey(ip, b))
	if err != nil || !ok {
		return st, err
	}
	if err := json.Unmarshal(v, &st); err != nil {
		return stall{}, nil
	}
	return st, nil
}

func (w *Warmup) keepStall(ip netip.Addr, b string, st stall, now time.Time) {
	st.checked = now
	w.mu.Lock()
	w.stalls[cappedKey{ip, b}] = st
	w.mu.Unlock()
}

// day is ip's day at now for bucket b: the calendar's, less the time its
// ramp stood still there (as this node last read it).
func (w *Warmup) day(wi WarmIP, b string, now time.Time) int {
	w.mu.Lock()
	st := w.stalls[cappedKey{wi.Addr, b}]
	w.mu.Unlock()
	return Day(wi.Start.Add(st.shift(now)), now)
}

// Refresh reads every warm-up IP's stand-stills from the shared state, so
// that a node starting late, or one that sent nothing there, uses the
// shared day.
func (w *Warmup) Refresh(ctx context.Context) error {
	now := w.cfg.Now()
	for _, wi := range w.ips {
		for _, b := range wi.Schedule.Buckets() {
			st, err := w.readStall(ctx, wi.Addr, b)
			if err != nil {
				return err
			}
			w.keepStall(wi.Addr, b, st, now)
		}
	}
	return nil
}
