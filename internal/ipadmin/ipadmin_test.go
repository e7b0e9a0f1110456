package ipadmin

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/pool"
	"sendpool/internal/state"
	"sendpool/internal/state/memory"
)

func TestIPsShowScopeUntilReason(t *testing.T) {
	tr := pool.NewTracker(pool.TrackerConfig{State: memory.New(nil), SuspendFor: time.Hour})
	ips := []pool.IP{
		{Addr: netip.MustParseAddr("127.0.0.2"), EHLO: "mta1.test", Weight: 2},
		{Addr: netip.MustParseAddr("127.0.0.3"), EHLO: "mta2.test"},
		{Addr: netip.MustParseAddr("127.0.0.4"), EHLO: "mta3.test"},
	}
	a := New(pool.New(pool.Config{IPs: ips, Tracker: tr}), tr, nil)
	ctx := context.Background()
	now := time.Now()
	tr.Suspend(ctx, state.Suspension{IP: "127.0.0.3", Scope: "outlook", Reason: "S3140", Until: now.Add(time.Hour)})
	tr.Suspend(ctx, state.Suspension{IP: "127.0.0.3", Scope: "yahoo", Reason: "TS03", Until: now.Add(2 * time.Hour)})
	if err := a.Suspend(ctx, "127.0.0.4", 0, ""); err != nil {
		t.Fatal(err)
	}
	got := a.IPs(ctx)
	if len(got) != 3 {
		t.Fatalf("IPs: %+v", got)
	}
	if g := got[0]; g.Status != api.IPActive || g.Weight != 2 || g.SuspendedUntil != nil || g.Scope != "" {
		t.Errorf("active IP: %+v", g)
	}
	if g := got[1]; g.Status != api.IPSuspended || g.Scope != "outlook,yahoo" || g.Reason != "TS03" ||
		g.SuspendedUntil == nil || !g.SuspendedUntil.Equal(now.Add(2*time.Hour)) {
		t.Errorf("IP out for two providers: %+v", g)
	}
	if g := got[2]; g.Status != api.IPSuspended || g.Scope != "pool" || g.Reason != "suspended by an admin" ||
		g.SuspendedUntil == nil || g.SuspendedUntil.Before(now.Add(59*time.Minute)) {
		t.Errorf("IP suspended by hand with the default duration: %+v", g)
	}
	if err := a.Resume(ctx, "127.0.0.3"); err != nil {
		t.Fatal(err)
	}
	if g := a.IPs(ctx)[1]; g.Status != api.IPActive {
		t.Errorf("after resume: %+v", g)
	}
}

// An IP in warm-up shows its day and its use of each provider's cap; a
// warm one shows no warm-up.
func TestIPsShowWarmup(t *testing.T) {
	st := memory.New(nil)
	tr := pool.NewTracker(pool.TrackerConfig{State: st})
	ips := []pool.IP{{Addr: netip.MustParseAddr("127.0.0.2")}, {Addr: netip.MustParseAddr("127.0.0.3")}}
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour) // day 2
	w := pool.NewWarmup(pool.WarmupConfig{State: st, IPs: []pool.WarmIP{{Addr: ips[1].Addr, Start: start, Name: "default",
		Schedule: pool.Schedule{Days: 21, Growth: 2, Caps: map[string]pool.Cap{"gmail": {Start: 50, Max: 20000}, pool.OtherProvider: {Start: 80, Max: 20000}}}}}})
	a := New(pool.New(pool.Config{IPs: ips, Tracker: tr, Warmup: w}), tr, nil).WithWarmup(w)
	ctx := context.Background()
	w.Admit(ctx, ips[1].Addr, "gmail", 7)
	w.Admit(ctx, ips[1].Addr, "example.org", 2)
	got := a.IPs(ctx)
	if got[0].Warmup != nil {
		t.Errorf("warm IP shows a warm-up: %+v", got[0].Warmup)
	}
	wu := got[1].Warmup
	if wu == nil || wu.Day != 2 || wu.Days != 21 || wu.Schedule != "default" || wu.Start != start.Format(time.DateOnly) ||
		len(wu.Providers) != 2 || wu.Providers[0] != (api.WarmupUsage{Provider: "gmail", Used: 7, Cap: 100, Day: 2}) ||
		wu.Providers[1] != (api.WarmupUsage{Provider: "other", Used: 2, Cap: 160, Day: 2}) {
		t.Errorf("warm-up shown: %+v", wu)
	}
}
