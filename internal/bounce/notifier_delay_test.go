package bounce

import (
	"context"
	"slices"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// delayed is l deferred with a 451, as the scheduler gives it to Delayed.
func delayed(l *queue.Lease) queue.DelayItem {
	a := queue.Attempt{Time: time.Now(), SourceIP: "127.0.0.2", MX: "mx.gmail.test", MXAddr: "127.0.0.11:25",
		Response: "451 4.3.0 Temporary local problem", Verdict: "deferred", Category: "other"}
	return queue.DelayItem{Lease: l, Outcome: queue.Outcome{Status: queue.StatusDeferred, Attempt: a},
		Result: queue.Result{Verdict: queue.VerdictDeferred, Attempt: a}}
}

// waitGathering waits until n holds delay notices of msgs messages with
// rcpts recipients in all (the state Delayed's callers wait in).
func waitGathering(t *testing.T, n *Notifier, msgs, rcpts int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n.mu.Lock()
		m, r := len(n.pending), 0
		for _, p := range n.pending {
			r += len(p.rcpts)
		}
		n.mu.Unlock()
		if m == msgs && r == rcpts {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gathering %d messages, %d recipients; want %d, %d", m, r, msgs, rcpts)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestDelayedGathers: concurrent Delayed calls for recipients of one
// message join one DSN and wait for it; none returns before it is stored;
// one caller's ctx ending cuts the gathering short for all, and the DSN is
// still stored. A delivery given twice is reported once.
func TestDelayedGathers(t *testing.T) {
	f := newFixture(t, time.Hour, "sender@shop1.test", "a@gmail.test", "b@gmail.test")
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 2)
	go func() {
		errc <- f.n.Delayed(ctx, []queue.DelayItem{delayed(&f.leases[0]), delayed(&f.leases[0])})
	}()
	go func() { errc <- f.n.Delayed(t.Context(), []queue.DelayItem{delayed(&f.leases[1])}) }()
	waitGathering(t, f.n, 1, 2)
	select {
	case err := <-errc:
		t.Fatalf("Delayed returned (%v) while its notice was being gathered", err)
	default:
	}
	if n := len(f.dsns()); n != 0 {
		t.Fatalf("%d DSNs stored while gathering", n)
	}
	cancel()
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	ds := f.dsns()
	if len(ds) != 1 {
		t.Fatalf("%d DSNs, want 1 for the message", len(ds))
	}
	var rcpts []string
	for _, r := range parseDSN(t, f.body(ds[0].MessageID)).perRcpt {
		want(t, r, "Action", "delayed")
		rcpts = append(rcpts, r.Get("Final-Recipient"))
	}
	slices.Sort(rcpts)
	if !slices.Equal(rcpts, []string{"rfc822; a@gmail.test", "rfc822; b@gmail.test"}) {
		t.Errorf("recipients %q", rcpts)
	}
}

// TestDelayedFails: when the notice cannot be stored, every caller waiting
// for it hears so, so that the scheduler does not mark the deliveries.
func TestDelayedFails(t *testing.T) {
	f := newFixture(t, time.Hour, "sender@shop1.test", "user@gmail.test")
	n := New(Config{Store: failingPut{f.store}, Hostname: "relay.sendpool.test", Gather: time.Millisecond})
	defer n.Close()
	if err := n.Delayed(t.Context(), []queue.DelayItem{delayed(&f.leases[0])}); err == nil {
		t.Fatal("Delayed succeeded with no DSN stored")
	}
}

// TestDelayedAfterClose: past Close a straggling notice is stored before
// Delayed returns, not gathered.
func TestDelayedAfterClose(t *testing.T) {
	f := newFixture(t, time.Hour, "sender@shop1.test", "user@gmail.test")
	f.n.Close()
	if err := f.n.Delayed(t.Context(), []queue.DelayItem{delayed(&f.leases[0])}); err != nil {
		t.Fatal(err)
	}
	if n := len(f.dsns()); n != 1 {
		t.Fatalf("%d DSNs, want 1", n)
	}
}
