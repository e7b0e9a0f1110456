package protect

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/events"
	"sendpool/internal/intake"
	"sendpool/internal/queue"
	"sendpool/internal/state/memory"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/testclock"
)

type fixture struct {
	st    *sqlite.Store
	p     *Protector
	ev    *events.Log
	clock *testclock.Clock
}

func newFixture(t *testing.T, th Thresholds, names ...string) *fixture {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "q.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, n := range names {
		if err := st.CreateAccount(t.Context(), &account.Account{Name: n, PasswordHash: "x", Status: account.StatusActive}); err != nil {
			t.Fatal(err)
		}
	}
	c := testclock.New()
	ms := memory.New(c.Now)
	ev := events.New(events.Config{State: ms})
	t.Cleanup(func() { ev.Close() })
	p := New(Config{Accounts: st, Queue: st, State: ms, Events: ev, Thresholds: th, Now: c.Now})
	return &fixture{st: st, p: p, ev: ev, clock: c}
}

func (f *fixture) status(t *testing.T, name string) (account.Status, string) {
	t.Helper()
	a, err := f.st.GetAccount(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return a.Status, a.Reason
}

func virus(name string, at time.Time) intake.Decision {
	return intake.Decision{Time: at, Account: name, Err: intake.Virus("scan", "EICAR")}
}

// TestVirusThreshold: 4 virus refusals in 10 minutes do nothing; the 5th
// holds the account with its reason, holds its queued mail and logs an
// event. Once released, the refusals counted before the hold do not hold
// it again.
func TestVirusThreshold(t *testing.T) {
	f := newFixture(t, Thresholds{VirusMax: 5, VirusWindow: 10 * time.Minute}, "shop", "other")
	m := &queue.Message{ID: queue.NewID(time.Now()), Account: "shop", From: "s@shop.test", Recipients: []string{"r@x.test"},
		Body: []byte("x"), Expires: time.Now().Add(time.Hour)}
	if err := f.st.Put(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	// Spam and other refusals do not count as viruses.
	f.p.Observe(t.Context(), intake.Decision{Time: f.clock.Now(), Account: "shop", Err: intake.Spam("scan", "")})
	f.p.Observe(t.Context(), intake.Decision{Time: f.clock.Now(), Account: "shop", Err: intake.SenderNotAllowed("")})
	// One virus 11 minutes ago is out of the window.
	f.p.Observe(t.Context(), virus("shop", f.clock.Now()))
	f.clock.Add(11 * time.Minute)
	for range 4 {
		f.p.Observe(t.Context(), virus("shop", f.clock.Now()))
		f.p.Observe(t.Context(), virus("other", f.clock.Now()))
	}
	if st, _ := f.status(t, "shop"); st != account.StatusActive {
		t.Fatalf("held after 4 in the window: %s", st)
	}
	f.p.Observe(t.Context(), virus("shop", f.clock.Now()))
	st, reason := f.status(t, "shop")
	if st != account.StatusHeld || !strings.Contains(reason, "5 virus refusals in 10m0s") {
		t.Fatalf("after 5: %s %q", st, reason)
	}
	if st, _ := f.status(t, "other"); st != account.StatusActive {
		t.Fatalf("other account: %s", st)
	}
	d, err := f.st.GetMessage(t.Context(), m.ID)
	if err != nil || d.Status != queue.StatusHeld {
		t.Fatalf("queued message: %+v, %v", d, err)
	}
	if ev, err := f.ev.List(t.Context(), events.Filter{Kind: events.KindHeld}); err != nil || len(ev) != 1 || ev[0].Account != "shop" || ev[0].Reason != reason {
		t.Fatalf("events: %+v", ev)
	}

	// An admin releases it (as the API does); one more virus does not hold
	// it again at once.
	a, _ := f.st.GetAccount(t.Context(), "shop")
	a.Status, a.Reason = account.StatusActive, ""
	if err := f.st.UpdateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Minute)
	f.p.Observe(t.Context(), virus("shop", f.clock.Now()))
	if st, _ := f.status(t, "shop"); st != account.StatusActive {
		t.Fatalf("held again by refusals counted before the release: %s", st)
	}
}

// TestSuspendedStaysSuspended: the protector never turns a suspension into
// a hold (the admin's reason stays).
func TestSuspendedStaysSuspended(t *testing.T) {
	f := newFixture(t, Thresholds{VirusMax: 1, VirusWindow: time.Minute}, "shop")
	a, _ := f.st.GetAccount(t.Context(), "shop")
	a.Status, a.Reason = account.StatusSuspended, "unpaid"
	f.st.UpdateAccount(t.Context(), a)
	f.p.Observe(t.Context(), virus("shop", f.clock.Now()))
	if st, reason := f.status(t, "shop"); st != account.StatusSuspended || reason != "unpaid" {
		t.Fatalf("%s %q", st, reason)
	}
}

// fin reports one final recipient of name, hard-bounced or delivered.
func fin(ctx context.Context, p *Protector, name string, bounced bool) {
	l := &queue.Lease{Account: name}
	if bounced {
		p.OnFinal(ctx, l, queue.Outcome{Status: queue.StatusBounced}, queue.Result{Verdict: queue.VerdictPermanent})
		return
	}
	p.OnFinal(ctx, l, queue.Outcome{Status: queue.StatusDelivered}, queue.Result{Verdict: queue.VerdictDelivered})
}

// TestBounceRate: hard bounces over 20% of at least 50 final recipients
// hold the account; exactly 20%, too few recipients, expiries and our own
// DSNs do not.
func TestBounceRate(t *testing.T) {
	f := newFixture(t, Thresholds{BounceRate: 0.2, BounceMin: 50, BounceWindow: time.Hour}, "shop", "small")
	ctx := context.Background()
	for range 10 {
		fin(ctx, f.p, "small", true)
	}
	if st, _ := f.status(t, "small"); st != account.StatusActive {
		t.Fatalf("10 bounces of 10 recipients held the account: under bounce_min")
	}
	for range 40 {
		fin(ctx, f.p, "shop", false)
	}
	// Expired deliveries and bounces of DSNs are not hard bounces.
	f.p.OnFinal(ctx, &queue.Lease{Account: "shop"}, queue.Outcome{Status: queue.StatusBounced}, queue.Result{Verdict: queue.VerdictDeferred})
	f.p.OnFinal(ctx, &queue.Lease{Account: "shop", Bounce: true}, queue.Outcome{Status: queue.StatusBounced}, queue.Result{Verdict: queue.VerdictPermanent})
	for range 10 {
		fin(ctx, f.p, "shop", true)
	}
	// 10 of 51: not over 20%.
	if st, _ := f.status(t, "shop"); st != account.StatusActive {
		t.Fatalf("held at 10 of 51")
	}
	fin(ctx, f.p, "shop", true)
	if st, reason := f.status(t, "shop"); st != account.StatusHeld || !strings.Contains(reason, "11 hard bounces of 52 recipients") {
		t.Fatalf("after 11 of 52: %s %q", st, reason)
	}
}

// TestVolume: an account sending ten times its usual hour (and at least
// volume_min) is held; one sending the same number every hour is not.
func TestVolume(t *testing.T) {
	f := newFixture(t, Thresholds{VolumeFactor: 10, VolumeMin: 500}, "steady", "burst")
	ctx := context.Background()
	accepted := func(name string, rcpts int) {
		f.p.Observe(ctx, intake.Decision{Time: f.clock.Now(), Account: name, Rcpts: rcpts})
	}
	for range 23 {
		accepted("steady", 600)
		accepted("burst", 10)
		f.clock.Add(time.Hour)
	}
	for range 60 {
		accepted("steady", 10)
		accepted("burst", 10)
		f.clock.Add(time.Minute / 2)
	}
	if st, _ := f.status(t, "burst"); st != account.StatusHeld {
		t.Fatalf("burst: %s", st)
	}
	if st, _ := f.status(t, "steady"); st != account.StatusActive {
		t.Fatalf("steady: %s", st)
	}
}

// TestOnHeld: the hook hears of each hold, once, with its reason, after
// the account is stored held.
func TestOnHeld(t *testing.T) {
	f := newFixture(t, Thresholds{VirusMax: 1, VirusWindow: 10 * time.Minute}, "shop")
	var heard []string
	f.p.cfg.OnHeld = func(ctx context.Context, acct, reason string) {
		st, _ := f.status(t, acct)
		heard = append(heard, acct+" "+string(st)+" "+reason)
	}
	f.p.Observe(t.Context(), virus("shop", f.clock.Now()))
	f.p.Observe(t.Context(), virus("shop", f.clock.Now()))
	if len(heard) != 1 || !strings.HasPrefix(heard[0], "shop held held automatically") {
		t.Errorf("OnHeld heard %q, want one hold of shop, stored held", heard)
	}
}
