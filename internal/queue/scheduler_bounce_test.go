package queue_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// dsnHook is an OnBounce that notes, for each recipient it is given, what
// the store said of it at that moment; its first failures calls fail, as
// when the store cannot take the DSN.
type dsnHook struct {
	h        *harness
	mu       sync.Mutex
	failures int
	calls    []hookCall
}

type hookCall struct {
	rcpts  []string
	stored []queue.Status
	failed bool
}

func (d *dsnHook) OnBounce(ctx context.Context, items []queue.BounceItem) error {
	var c hookCall
	for _, it := range items {
		if it.Outcome.Status != queue.StatusBounced {
			d.h.t.Errorf("OnBounce given %s with status %s", it.Lease.Recipient, it.Outcome.Status)
		}
		c.rcpts = append(c.rcpts, it.Lease.Recipient)
		c.stored = append(c.stored, d.h.recipient(it.Lease.MessageID, it.Lease.Recipient).Status)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failures > 0 {
		d.failures--
		c.failed = true
	}
	d.calls = append(d.calls, c)
	if c.failed {
		return errors.New("store down")
	}
	return nil
}

func (d *dsnHook) Calls() []hookCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// TestBounceHookBeforeRecord: the bounced deliveries of a group, and only
// they, go to OnBounce in one call while the store does not yet record
// them as bounced; the store records the bounce after, then OnFinal hears
// of it.
func TestBounceHookBeforeRecord(t *testing.T) {
	h := newHarness(t, func(_ context.Context, l *queue.Lease, ip string) queue.Result {
		if l.Recipient == "ok@gmail.test" {
			return reply(time.Time{}, ip, queue.VerdictDelivered, "250 2.0.0 Ok")
		}
		return reply(time.Time{}, ip, queue.VerdictPermanent, "550 5.1.1 User unknown")
	})
	m := h.put(24*time.Hour, "bad1@gmail.test", "ok@gmail.test", "bad2@gmail.test")
	hook := &dsnHook{h: h}
	// One worker: the three deliveries make one group.
	h.start("a", nil, queue.SchedulerConfig{Workers: 1, OnBounce: hook.OnBounce})

	eventually(t, "three finals", func() bool { return len(h.Finals()) == 3 })
	calls := hook.Calls()
	if len(calls) != 1 {
		t.Fatalf("OnBounce called %d times, want once for the group", len(calls))
	}
	c := calls[0]
	slices.Sort(c.rcpts)
	if !slices.Equal(c.rcpts, []string{"bad1@gmail.test", "bad2@gmail.test"}) {
		t.Errorf("OnBounce given %v, want the two bounced recipients", c.rcpts)
	}
	for i, st := range c.stored {
		if st == queue.StatusBounced {
			t.Errorf("%s: already recorded bounced when OnBounce ran", c.rcpts[i])
		}
	}
	for _, f := range h.Finals() {
		if f.stored != f.status {
			t.Errorf("%s: OnFinal saw %q stored, outcome %q", f.rcpt, f.stored, f.status)
		}
	}
	for _, r := range []string{"bad1@gmail.test", "bad2@gmail.test"} {
		if st := h.recipient(m.ID, r).Status; st != queue.StatusBounced {
			t.Errorf("%s: %s, want bounced", r, st)
		}
	}
}

// TestBounceHookFails: when OnBounce fails (no DSN stored) the delivery is
// not recorded bounced but deferred, due after the first retry step, with
// the attempt recorded; at that retry it bounces again, this time with its
// DSN, and only then is it final.
func TestBounceHookFails(t *testing.T) {
	h := newHarness(t, func(_ context.Context, l *queue.Lease, ip string) queue.Result {
		return reply(time.Time{}, ip, queue.VerdictPermanent, "550 5.1.1 User unknown")
	})
	m := h.put(24*time.Hour, "user@gmail.test")
	hook := &dsnHook{h: h, failures: 1}
	steps := []time.Duration{10 * time.Minute, time.Hour}
	s, _ := h.start("a", nil, queue.SchedulerConfig{Retry: steps, OnBounce: hook.OnBounce})

	now := h.clock.Now()
	var r queue.RecipientDetail
	eventually(t, "the deferral", func() bool {
		r = h.recipient(m.ID, "user@gmail.test")
		return len(r.Attempts) == 1
	})
	if r.Status != queue.StatusDeferred || !withinJitter(r.NextAttempt.Sub(now), steps[0]) {
		t.Fatalf("after a failed OnBounce: %s, next in %v; want deferred, %v ±10%%",
			r.Status, r.NextAttempt.Sub(now), steps[0])
	}
	if r.Attempts[0].Response != "550 5.1.1 User unknown" {
		t.Errorf("recorded attempt %+v", r.Attempts[0])
	}
	if n := len(h.Finals()); n != 0 {
		t.Errorf("OnFinal called %d times for a deferral", n)
	}
	if n := h.logs.count(slog.LevelError, "DSNs not queued: bounces deferred"); n != 1 {
		t.Errorf("%d error records for the failed OnBounce, want 1", n)
	}

	h.clock.Set(r.NextAttempt)
	s.Wake()
	eventually(t, "the bounce", func() bool { return len(h.Finals()) == 1 })
	r = h.recipient(m.ID, "user@gmail.test")
	if r.Status != queue.StatusBounced || len(r.Attempts) != 2 {
		t.Errorf("after the retry: %s, %d attempts; want bounced, 2", r.Status, len(r.Attempts))
	}
	calls := hook.Calls()
	if len(calls) != 2 || !calls[0].failed || calls[1].failed || !slices.Equal(calls[1].rcpts, []string{"user@gmail.test"}) {
		t.Errorf("OnBounce calls %+v, want a failed one then one that stored the DSN", calls)
	}
}
