// Package ipadmin shows the sending pool in the API and lets an admin
// suspend and resume its IPs: api.IPSource and api.IPAdmin over the pool
// and its suspension tracker.
package ipadmin

import (
	"context"
	"slices"
	"strings"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/pool"
	"sendpool/internal/state"
)

// Admin implements api.IPSource and api.IPAdmin.
type Admin struct {
	pool    *pool.Pool
	tracker *pool.Tracker
	warmup  *pool.Warmup // nil: every IP is warm
	pacer   *pool.Pacer  // nil: never paced
	now     func() time.Time
}

var (
	_ api.IPSource = (*Admin)(nil)
	_ api.IPAdmin  = (*Admin)(nil)
)

// New returns the admin of p, whose suspensions t tracks. now may be nil.
func New(p *pool.Pool, t *pool.Tracker, now func() time.Time) *Admin {
	if now == nil {
		now = time.Now
	}
	return &Admin{pool: p, tracker: t, now: now}
}

// WithWarmup shows the warm-up of the IPs in w with their status.
func (a *Admin) WithWarmup(w *pool.Warmup) *Admin {
	a.warmup = w
	return a
}

// WithPacer shows the paces of the IPs with their status.
func (a *Admin) WithPacer(p *pool.Pacer) *Admin {
	a.pacer = p
	return a
}

// IPs lists the pool's IPs with their suspensions. An IP out of the whole
// pool shows scope "pool"; one out for some providers only shows them,
// comma-separated, with the latest end and its reason.
func (a *Admin) IPs(ctx context.Context) []api.IPStatus {
	susp := a.tracker.Suspensions()
	out := []api.IPStatus{}
	for _, ip := range a.pool.IPs() {
		st := api.IPStatus{Address: ip.String(), EHLO: ip.EHLO, Weight: max(ip.Weight, 1), Status: api.IPActive}
		if list := susp[ip.Addr]; ip.Addr.IsValid() && len(list) > 0 {
			main, scopes := summarize(list)
			until := main.Until
			st.Status, st.Scope, st.SuspendedUntil, st.Reason = api.IPSuspended, scopes, &until, main.Reason
		}
		st.Warmup = a.warming(ctx, ip)
		st.Paces = a.paces(ip)
		out = append(out, st)
	}
	return out
}

// summarize picks the suspension to show: the pool-wide one if any, else
// the one that ends last; and the scopes to list.
func summarize(list []state.Suspension) (state.Suspension, string) {
	var main state.Suspension
	var scopes []string
	for _, s := range list {
		if s.Scope == state.ScopePool {
			return s, state.ScopePool
		}
		scopes = append(scopes, s.Scope)
		if s.Until.After(main.Until) {
			main = s
		}
	}
	slices.Sort(scopes)
	return main, strings.Join(scopes, ",")
}

// Suspend takes addr out of the whole pool for d (0: pool.suspend_for).
func (a *Admin) Suspend(ctx context.Context, addr string, d time.Duration, reason string) error {
	if d <= 0 {
		d = a.tracker.SuspendFor()
	}
	if reason == "" {
		reason = "suspended by an admin"
	}
	now := a.now()
	_, err := a.tracker.Suspend(ctx, state.Suspension{
		IP: addr, Scope: state.ScopePool, Reason: reason, Source: pool.SourceAdmin, Since: now, Until: now.Add(d),
	})
	return err
}

// Resume ends every suspension of addr, whoever made it. A DNSBL that
// still lists it takes it out again at its next round.
func (a *Admin) Resume(ctx context.Context, addr string) error {
	_, err := a.tracker.Resume(ctx, addr, "", "")
	return err
}

// warming returns ip's warm-up, or nil when it is warm. When the state
// cannot be read, the providers counted before the failure are shown.
func (a *Admin) warming(ctx context.Context, ip pool.IP) *api.IPWarmup {
	if a.warmup == nil || !ip.Addr.IsValid() {
		return nil
	}
	st, ok, _ := a.warmup.Status(ctx, ip.Addr)
	if !ok {
		return nil
	}
	w := &api.IPWarmup{Schedule: st.Schedule, Start: st.Start.Format(time.DateOnly), Day: st.Day, Days: st.Days,
		Providers: []api.WarmupUsage{}}
	for _, p := range st.Providers {
		w.Providers = append(w.Providers, api.WarmupUsage{Provider: p.Provider, Used: p.Used, Cap: p.Cap,
			Day: p.Day, Stalled: p.Stalled})
	}
	return w
}

// paces returns ip's paces in force (nil: none).
func (a *Admin) paces(ip pool.IP) []api.IPPace {
	if a.pacer == nil {
		return nil
	}
	var out []api.IPPace
	for _, pc := range a.pacer.Paces() {
		if pc.IP == ip.String() {
			out = append(out, api.IPPace{Provider: pc.Provider, Rate: pc.Rate, Window: a.pacer.Window().String(),
				Conns: pc.Conns, Since: pc.Since, Last: pc.Last, Reply: pc.Reply})
		}
	}
	return out
}
