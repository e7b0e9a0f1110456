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
	a := New(pool.New(ips, tr, nil), tr, nil)
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
