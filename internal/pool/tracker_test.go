package pool

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/state"
	"sendpool/internal/state/memory"
	"sendpool/internal/testclock"
)

// gauge records SetSuspended calls.
type gauge struct {
	mu sync.Mutex
	v  map[[2]string]bool
}

func (g *gauge) SetSuspended(ip, scope string, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.v == nil {
		g.v = map[[2]string]bool{}
	}
	g.v[[2]string{ip, scope}] = on
}

func (g *gauge) get(ip, scope string) (on, set bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	on, set = g.v[[2]string{ip, scope}]
	return on, set
}

var (
	ip2 = netip.MustParseAddr("127.0.0.2")
	ip3 = netip.MustParseAddr("127.0.0.3")
)

func newTracker(t *testing.T) (*Tracker, *memory.State, *testclock.Clock, *gauge) {
	t.Helper()
	clk := testclock.New()
	st := memory.New(clk.Now)
	g := &gauge{}
	tr := NewTracker(TrackerConfig{State: st, SuspendFor: time.Hour, Gauge: g, Now: clk.Now})
	return tr, st, clk, g
}

func TestTrackerScopes(t *testing.T) {
	tr, _, _, _ := newTracker(t)
	ctx := context.Background()
	if err := tr.Block(ctx, "127.0.0.2", state.ScopePool, "554 blocked using zen.spamhaus.org"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Block(ctx, "127.0.0.3", "outlook", "550 5.7.1 S3140"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ip   netip.Addr
		dest string
		want bool
	}{
		{ip2, "outlook", false}, {ip2, "gmail", false}, // pool scope: every destination
		{ip3, "outlook", false}, {ip3, "gmail", true}, // provider scope: that provider only
	} {
		if got := tr.Usable(c.ip, c.dest); got != c.want {
			t.Errorf("Usable(%s, %s) = %v, want %v", c.ip, c.dest, got, c.want)
		}
	}
}

func TestTrackerLocalChangeSeenAtOnce(t *testing.T) {
	tr, _, clk, g := newTracker(t)
	ctx := context.Background()
	if !tr.Usable(ip2, "gmail") {
		t.Fatal("usable before any suspension")
	}
	tr.Block(ctx, "127.0.0.2", "", "554 blocked")
	if tr.Usable(ip2, "gmail") {
		t.Fatal("a local block is not honoured before the next refresh")
	}
	if at := tr.UsableAt(ip2, "gmail"); !at.Equal(clk.Now().Add(time.Hour)) {
		t.Errorf("UsableAt = %v, want now+SuspendFor", at)
	}
	if on, _ := g.get("127.0.0.2", "pool"); !on {
		t.Error("gauge not set on suspension")
	}
	found, err := tr.Resume(ctx, "127.0.0.2", "", "")
	if err != nil || !found {
		t.Fatalf("Resume = %v, %v", found, err)
	}
	if !tr.Usable(ip2, "gmail") {
		t.Error("a local resume is not honoured at once")
	}
	if on, set := g.get("127.0.0.2", "pool"); on || !set {
		t.Error("gauge not back to 0 on resume")
	}
}

func TestTrackerSnapshotOfOtherNodes(t *testing.T) {
	tr, st, clk, g := newTracker(t)
	ctx := context.Background()
	tr.Refresh(ctx)
	// Another node suspends through the shared state.
	st.Suspend(ctx, state.Suspension{IP: "127.0.0.3", Scope: "pool", Source: SourceReceiver, Since: clk.Now(), Until: clk.Now().Add(time.Minute)})
	if !tr.Usable(ip3, "gmail") {
		t.Fatal("the snapshot changed without a refresh: Usable is not answering from it")
	}
	tr.Refresh(ctx)
	if tr.Usable(ip3, "gmail") {
		t.Fatal("another node's suspension not honoured after a refresh")
	}
	if on, _ := g.get("127.0.0.3", "pool"); !on {
		t.Error("gauge not set for another node's suspension")
	}
	// It ends by itself: Usable checks the end, the next refresh drops it.
	clk.Add(time.Minute)
	if !tr.Usable(ip3, "gmail") {
		t.Fatal("an expired suspension still holds")
	}
	tr.Refresh(ctx)
	if on, set := g.get("127.0.0.3", "pool"); on || !set {
		t.Error("gauge not back to 0 after expiry")
	}
	if len(tr.Suspensions()) != 0 {
		t.Errorf("suspensions after expiry: %v", tr.Suspensions())
	}
}

func TestTrackerRunRefreshes(t *testing.T) {
	st := memory.New(nil)
	tr := NewTracker(TrackerConfig{State: st, Refresh: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	st.Suspend(ctx, state.Suspension{IP: "127.0.0.2", Scope: "pool", Until: time.Now().Add(time.Hour)})
	deadline := time.Now().Add(10 * time.Second)
	for tr.Usable(ip2, "gmail") {
		if time.Now().After(deadline) {
			t.Fatal("Run never picked up the suspension")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTrackerNeverShortensButAdminDoes(t *testing.T) {
	tr, _, clk, _ := newTracker(t)
	ctx := context.Background()
	now := clk.Now()
	long := state.Suspension{IP: "127.0.0.2", Scope: "pool", Source: SourceReceiver, Reason: "long", Until: now.Add(2 * time.Hour)}
	if done, err := tr.Suspend(ctx, long); !done || err != nil {
		t.Fatalf("Suspend = %v, %v", done, err)
	}
	short := state.Suspension{IP: "127.0.0.2", Scope: "pool", Source: SourceDNSBL, Reason: "short", Until: now.Add(time.Hour)}
	if done, _ := tr.Suspend(ctx, short); done {
		t.Error("a shorter suspension replaced a longer one")
	}
	if s := tr.Suspensions()[ip2]; len(s) != 1 || s[0].Reason != "long" {
		t.Errorf("suspensions %v, want the long one", s)
	}
	admin := state.Suspension{IP: "127.0.0.2", Scope: "pool", Source: SourceAdmin, Reason: "admin", Until: now.Add(time.Minute)}
	if done, _ := tr.Suspend(ctx, admin); !done {
		t.Error("an admin could not shorten a suspension")
	}
	if s := tr.Suspensions()[ip2]; len(s) != 1 || s[0].Reason != "admin" {
		t.Errorf("suspensions %v, want the admin's", s)
	}
}

func TestTrackerResumeBySource(t *testing.T) {
	tr, _, _, _ := newTracker(t)
	ctx := context.Background()
	tr.Suspend(ctx, state.Suspension{IP: "127.0.0.2", Scope: "pool", Source: SourceReceiver})
	tr.Suspend(ctx, state.Suspension{IP: "127.0.0.2", Scope: "outlook", Source: SourceDNSBL})
	if found, _ := tr.Resume(ctx, "127.0.0.2", "pool", SourceDNSBL); found {
		t.Error("resumed a receiver's suspension as the DNSBL checker")
	}
	if tr.Usable(ip2, "gmail") {
		t.Error("the receiver's suspension was lifted")
	}
	if found, _ := tr.Resume(ctx, "127.0.0.2", "", ""); !found {
		t.Error("Resume of every scope found nothing")
	}
	if !tr.Usable(ip2, "outlook") {
		t.Error("still suspended after resuming every scope")
	}
}

// TestTrackerHooks: OnSuspended hears of a new suspension (not of a renewal
// or of a shorter one left aside), OnResumed of one resumed here and of one
// that ran out, which a refresh finds gone.
func TestTrackerHooks(t *testing.T) {
	clk := testclock.New()
	st := memory.New(clk.Now)
	var mu sync.Mutex
	var got []string
	note := func(what string) func(context.Context, state.Suspension) {
		return func(_ context.Context, s state.Suspension) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, what+" "+s.IP+" "+s.Scope)
		}
	}
	tr := NewTracker(TrackerConfig{State: st, SuspendFor: time.Hour, Now: clk.Now,
		OnSuspended: note("suspended"), OnResumed: note("resumed")})
	ctx := context.Background()
	s := state.Suspension{IP: "127.0.0.2", Scope: "pool", Source: SourceDNSBL, Reason: "listed"}
	tr.Suspend(ctx, s)
	tr.Suspend(ctx, s) // a renewal
	tr.Suspend(ctx, state.Suspension{IP: "127.0.0.3", Scope: "outlook", Source: SourceReceiver, Reason: "S3150",
		Until: clk.Now().Add(10 * time.Minute)})
	tr.Resume(ctx, "127.0.0.2", "", "")
	clk.Add(11 * time.Minute)
	if err := tr.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"suspended 127.0.0.2 pool", "suspended 127.0.0.3 outlook", "resumed 127.0.0.2 pool",
		"resumed 127.0.0.3 outlook"}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("hooks heard %q\nwant %q", got, want)
	}
}
