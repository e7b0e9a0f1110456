package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// events is an ordered log shared by a store wrapper and an OnDelay hook.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(format string, args ...any) {
	e.mu.Lock()
	e.log = append(e.log, fmt.Sprintf(format, args...))
	e.mu.Unlock()
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

// reportLog is a store that notes every Report, with the DelayNotified it
// records, before passing it on.
type reportLog struct {
	queue.Store
	ev *events
}

func (s reportLog) Report(ctx context.Context, l *queue.Lease, o queue.Outcome) error {
	s.ev.add("report %s %s notified=%v", l.Recipient, o.Status, o.DelayNotified)
	return s.Store.Report(ctx, l, o)
}

func (s reportLog) ReportAll(ctx context.Context, ls []*queue.Lease, os []queue.Outcome) []error {
	for i, l := range ls {
		s.ev.add("report %s %s notified=%v", l.Recipient, os[i].Status, os[i].DelayNotified)
	}
	return s.Store.ReportAll(ctx, ls, os)
}

// delayHook is an OnDelay that notes what it is given and the lease's
// DelayNotified; it waits for release when set, and its first failures
// calls fail, as when the store cannot take the notice.
type delayHook struct {
	ev       *events
	entered  chan struct{} // a call has begun (if set; buffered)
	release  chan struct{} // a call may finish (if set)
	mu       sync.Mutex
	failures int
	calls    [][]string
}

func (d *delayHook) OnDelay(ctx context.Context, items []queue.DelayItem) error {
	var rcpts []string
	for _, it := range items {
		rcpts = append(rcpts, fmt.Sprintf("%s notified=%v", it.Lease.Recipient, it.Lease.DelayNotified))
	}
	d.mu.Lock()
	d.calls = append(d.calls, rcpts)
	fail := d.failures > 0
	if fail {
		d.failures--
	}
	d.mu.Unlock()
	if d.entered != nil {
		d.entered <- struct{}{}
	}
	if d.release != nil {
		<-d.release
	}
	if fail {
		d.ev.add("notice failed %v", rcpts)
		return errors.New("store down")
	}
	d.ev.add("notice stored %v", rcpts)
	return nil
}

func (d *delayHook) Calls() [][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// TestDelayHookBeforeRecord: a delivery whose delay notice is due goes to
// OnDelay before the store records it, and is recorded notified only once
// OnDelay returned (the notice stored): while OnDelay runs, its attempt is
// not recorded, and the group's other delivery is not held back. Marked, it
// gets no second notice.
func TestDelayHookBeforeRecord(t *testing.T) {
	h := newHarness(t, func(_ context.Context, l *queue.Lease, ip string) queue.Result {
		if l.Recipient == "ok@gmail.test" {
			return reply(time.Time{}, ip, queue.VerdictDelivered, "250 2.0.0 Ok")
		}
		return reply(time.Time{}, ip, queue.VerdictDeferred, tempFail)
	})
	ev := &events{}
	h.wrap = func(s queue.Store) queue.Store { return reportLog{s, ev} }
	m := h.put(24*time.Hour, "slow@gmail.test", "ok@gmail.test")
	// Accepted an hour ago: the notice is due at the first deferral.
	h.clock.Set(h.clock.Now().Add(time.Hour))
	hook := &delayHook{ev: ev, entered: make(chan struct{}, 8), release: make(chan struct{})}
	// One worker: both deliveries make one group.
	s, _ := h.start("a", nil, queue.SchedulerConfig{Workers: 1, Retry: []time.Duration{10 * time.Minute},
		DelayNotice: 30 * time.Minute, OnDelay: hook.OnDelay})

	<-hook.entered
	eventually(t, "ok@ recorded delivered while the notice is stored", func() bool {
		return h.recipient(m.ID, "ok@gmail.test").Status == queue.StatusDelivered
	})
	if r := h.recipient(m.ID, "slow@gmail.test"); len(r.Attempts) != 0 {
		t.Errorf("slow@ recorded (%d attempts, %s) before its notice was stored", len(r.Attempts), r.Status)
	}
	close(hook.release)
	var r queue.RecipientDetail
	eventually(t, "slow@ recorded", func() bool {
		r = h.recipient(m.ID, "slow@gmail.test")
		return len(r.Attempts) == 1
	})
	want := []string{
		"report ok@gmail.test delivered notified=false",
		"notice stored [slow@gmail.test notified=false]",
		"report slow@gmail.test deferred notified=true",
	}
	if got := ev.all(); !slices.Equal(got, want) {
		t.Fatalf("events\n%q\nwant\n%q", got, want)
	}

	// Marked: the next deferral gives no second notice.
	h.clock.Set(r.NextAttempt)
	s.Wake()
	eventually(t, "the second attempt", func() bool { return len(h.recipient(m.ID, "slow@gmail.test").Attempts) == 2 })
	if calls := hook.Calls(); len(calls) != 1 {
		t.Errorf("OnDelay calls %v, want one", calls)
	}
}

// TestDelayHookFails: when OnDelay fails (no notice stored) the deferral is
// recorded, on its schedule, but not marked notified; the next deferral
// gives the notice again, and once that is stored, no more.
func TestDelayHookFails(t *testing.T) {
	h := newHarness(t, func(_ context.Context, l *queue.Lease, ip string) queue.Result {
		return reply(time.Time{}, ip, queue.VerdictDeferred, tempFail)
	})
	ev := &events{}
	h.wrap = func(s queue.Store) queue.Store { return reportLog{s, ev} }
	m := h.put(24*time.Hour, "slow@gmail.test")
	h.clock.Set(h.clock.Now().Add(time.Hour))
	hook := &delayHook{ev: ev, failures: 1}
	step := 10 * time.Minute
	s, _ := h.start("a", nil, queue.SchedulerConfig{Retry: []time.Duration{step},
		DelayNotice: 30 * time.Minute, OnDelay: hook.OnDelay})

	for i := 1; i <= 3; i++ {
		now := h.clock.Now()
		var r queue.RecipientDetail
		eventually(t, fmt.Sprintf("attempt %d", i), func() bool {
			r = h.recipient(m.ID, "slow@gmail.test")
			return len(r.Attempts) == i
		})
		if r.Status != queue.StatusDeferred || !withinJitter(r.NextAttempt.Sub(now), step) {
			t.Fatalf("attempt %d: %s, next in %v; want deferred, %v ±10%%", i, r.Status, r.NextAttempt.Sub(now), step)
		}
		if i < 3 {
			h.clock.Set(r.NextAttempt)
			s.Wake()
		}
	}
	want := []string{
		"notice failed [slow@gmail.test notified=false]",
		"report slow@gmail.test deferred notified=false",
		"notice stored [slow@gmail.test notified=false]",
		"report slow@gmail.test deferred notified=true",
		"report slow@gmail.test deferred notified=true",
	}
	if got := ev.all(); !slices.Equal(got, want) {
		t.Errorf("events\n%q\nwant\n%q", got, want)
	}
	if n := h.logs.count(slog.LevelError, "delay notices not queued: due again at the next deferral"); n != 1 {
		t.Errorf("%d error records for the failed OnDelay, want 1", n)
	}
}
