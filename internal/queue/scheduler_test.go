package queue_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"sendpool/internal/queue"
)

const tempFail = "451 4.3.0 Temporary local problem, try again later"

// TestRetrySchedule: each deferral waits the schedule's next step, ±10%,
// and the last step repeats.
func TestRetrySchedule(t *testing.T) {
	h := newHarness(t, func(_ context.Context, l *queue.Lease, ip string) queue.Result {
		return reply(time.Time{}, ip, queue.VerdictDeferred, tempFail)
	})
	m := h.put(24*time.Hour, "user@gmail.test")
	steps := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute}
	s, _ := h.start("a", nil, queue.SchedulerConfig{Retry: steps})

	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 4 * time.Minute, 4 * time.Minute}
	for i, step := range want {
		now := h.clock.Now()
		var r queue.RecipientDetail
		eventually(t, fmt.Sprintf("attempt %d recorded", i+1), func() bool {
			r = h.recipient(m.ID, "user@gmail.test")
			return len(r.Attempts) == i+1 && r.NextAttempt.After(now)
		})
		if r.Status != queue.StatusDeferred {
			t.Fatalf("attempt %d: status %s, want deferred", i+1, r.Status)
		}
		if wait := r.NextAttempt.Sub(now); !withinJitter(wait, step) {
			t.Fatalf("attempt %d: next in %v, want %v ±10%%", i+1, wait, step)
		}
		h.clock.Set(r.NextAttempt)
		s.Wake()
	}
}

// TestRetryJitter: deliveries deferred together are spread over the whole
// ±10% band, not bunched on the step.
func TestRetryJitter(t *testing.T) {
	h := newHarness(t, func(_ context.Context, l *queue.Lease, ip string) queue.Result {
		return reply(time.Time{}, ip, queue.VerdictDeferred, tempFail)
	})
	var rcpts []string
	for i := range 200 {
		rcpts = append(rcpts, fmt.Sprintf("u%03d@gmail.test", i))
	}
	m := h.put(24*time.Hour, rcpts...)
	now := h.clock.Now()
	step := 10 * time.Minute
	h.start("a", nil, queue.SchedulerConfig{Retry: []time.Duration{step}})

	var d *queue.MessageDetail
	eventually(t, "200 deferrals", func() bool {
		var err error
		d, err = h.store.GetMessage(t.Context(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range d.Recipients {
			if len(r.Attempts) != 1 || !r.NextAttempt.After(now) {
				return false
			}
		}
		return true
	})
	lo, hi := time.Duration(1<<62), time.Duration(0)
	distinct := map[time.Time]bool{}
	for _, r := range d.Recipients {
		wait := r.NextAttempt.Sub(now)
		if !withinJitter(wait, step) {
			t.Errorf("%s: next in %v, want %v ±10%%", r.Address, wait, step)
		}
		lo, hi = min(lo, wait), max(hi, wait)
		distinct[r.NextAttempt] = true
	}
	// Uniform over ±60s: 200 draws all within ±18s has odds below 1e-30.
	if lo > step-step*3/100 || hi < step+step*3/100 || len(distinct) < 100 {
		t.Errorf("retries bunched: from %v to %v, %d distinct times", lo, hi, len(distinct))
	}
}

// TestExpiryBounces: the last retry is moved to the expiry time, and a
// deferral at or after it bounces the recipient, category expired, with the
// last reply in the record; OnFinal hears of it once.
func TestExpiryBounces(t *testing.T) {
	h := newHarness(t, func(_ context.Context, l *queue.Lease, ip string) queue.Result {
		return reply(time.Time{}, ip, queue.VerdictDeferred, tempFail)
	})
	m := h.put(15*time.Minute, "user@gmail.test")
	s, _ := h.start("a", nil, queue.SchedulerConfig{Retry: []time.Duration{10 * time.Minute}})

	var r queue.RecipientDetail
	eventually(t, "first deferral", func() bool {
		r = h.recipient(m.ID, "user@gmail.test")
		return len(r.Attempts) == 1
	})
	h.clock.Set(r.NextAttempt) // 9 to 11 minutes in
	s.Wake()
	eventually(t, "second deferral", func() bool {
		r = h.recipient(m.ID, "user@gmail.test")
		return len(r.Attempts) == 2
	})
	if !r.NextAttempt.Equal(m.Expires) {
		t.Fatalf("retry after the second attempt at %v, want the expiry %v", r.NextAttempt, m.Expires)
	}
	if len(h.Finals()) != 0 {
		t.Fatalf("OnFinal before expiry: %+v", h.Finals())
	}
	h.clock.Set(m.Expires)
	s.Wake()
	eventually(t, "the bounce", func() bool { return len(h.Finals()) == 1 })
	r = h.recipient(m.ID, "user@gmail.test")
	last := r.Attempts[len(r.Attempts)-1]
	if r.Status != queue.StatusBounced || last.Category != "expired" ||
		!strings.Contains(r.Response, "expired") || !strings.HasSuffix(r.Response, "last reply: "+tempFail) {
		t.Errorf("after expiry: status %s, category %q, response %q", r.Status, last.Category, r.Response)
	}
	f := h.Finals()[0]
	if f.status != queue.StatusBounced || f.o.Attempt.Category != "expired" || f.stored != queue.StatusBounced {
		t.Errorf("OnFinal: %+v", f)
	}
}

// TestExpiryWithoutUsableIP: a delivery held back because every source IP
// is suspended (the courier makes no attempt) still expires, and the record
// keeps the last real reply.
func TestExpiryWithoutUsableIP(t *testing.T) {
	h := newHarness(t, func(_ context.Context, l *queue.Lease, ip string) queue.Result {
		if l.Attempts == 0 {
			return reply(time.Time{}, ip, queue.VerdictDeferred, tempFail)
		}
		return queue.Result{Verdict: queue.VerdictDeferred, Attempt: queue.Attempt{
			Response: "no usable source IP for gmail.test", Verdict: "deferred", Category: "pool"}}
	})
	m := h.put(time.Hour, "user@gmail.test")
	s, _ := h.start("a", nil, queue.SchedulerConfig{Retry: []time.Duration{20 * time.Minute}})

	var r queue.RecipientDetail
	eventually(t, "the real attempt", func() bool {
		r = h.recipient(m.ID, "user@gmail.test")
		return len(r.Attempts) == 1
	})
	h.clock.Set(m.Expires.Add(time.Minute))
	s.Wake()
	eventually(t, "the bounce", func() bool { return len(h.Finals()) == 1 })
	r = h.recipient(m.ID, "user@gmail.test")
	if r.Status != queue.StatusBounced || r.Response != "message expired in queue; last reply: "+tempFail {
		t.Errorf("status %s, response %q", r.Status, r.Response)
	}
	if n := len(h.courier.Calls()); n != 2 {
		t.Errorf("courier called %d times, want 2", n)
	}
}

// TestBlockedIPRetriedAtOnce: a blocked-IP verdict whose courier says
// another IP may send now (RetryAt not after now, as pool.Report answers
// while an untried usable IP remains) is retried at once; once all were
// tried the schedule applies. A verdict with no IP (none could be picked)
// does not spin.
func TestBlockedIPRetriedAtOnce(t *testing.T) {
	var h *harness
	h = newHarness(t, func(_ context.Context, l *queue.Lease, ip string) queue.Result {
		if strings.HasPrefix(l.Recipient, "none") {
			return queue.Result{Verdict: queue.VerdictBlockedIP, Attempt: queue.Attempt{Response: "no IP"}}
		}
		r := reply(time.Time{}, ip, queue.VerdictBlockedIP,
			"554 5.7.1 Service unavailable; Client host ["+ip+"] blocked using zen.spamhaus.org")
		if len(l.TriedIPs)+1 < len(poolIPs) {
			r.RetryAt = h.clock.Now()
		}
		return r
	})
	m := h.put(24*time.Hour, "user@gmail.test", "none@gmail.test")
	now := h.clock.Now()
	steps := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute}
	h.start("a", nil, queue.SchedulerConfig{Retry: steps})

	var r queue.RecipientDetail
	eventually(t, "three IPs tried", func() bool {
		r = h.recipient(m.ID, "user@gmail.test")
		return len(r.Attempts) == 3 && r.NextAttempt.After(now)
	})
	var ips []string
	for _, a := range r.Attempts {
		ips = append(ips, a.SourceIP)
	}
	if strings.Join(ips, ",") != strings.Join(poolIPs, ",") {
		t.Errorf("attempts from %v, want one from each of %v", ips, poolIPs)
	}
	for _, a := range r.Attempts {
		if !a.Time.Equal(now) {
			t.Errorf("attempt at %v: the clock did not move, retries were immediate", a.Time)
		}
	}
	if wait := r.NextAttempt.Sub(now); !withinJitter(wait, steps[2]) {
		t.Errorf("after every IP was refused: next in %v, want %v ±10%%", wait, steps[2])
	}
	none := h.recipient(m.ID, "none@gmail.test")
	if len(none.Attempts) != 0 || !withinJitter(none.NextAttempt.Sub(now), steps[0]) {
		t.Errorf("blocked with no IP: %d attempts, next in %v; want none and %v ±10%%",
			len(none.Attempts), none.NextAttempt.Sub(now), steps[0])
	}
}

// TestOnFinalOncePerFinal: OnFinal is called once for each delivery that
// ends, after the store recorded it, and never for a deferral.
func TestOnFinalOncePerFinal(t *testing.T) {
	h := newHarness(t, func(_ context.Context, l *queue.Lease, ip string) queue.Result {
		switch {
		case strings.HasPrefix(l.Recipient, "ok"):
			return reply(time.Time{}, ip, queue.VerdictDelivered, "250 2.0.0 Ok")
		case strings.HasPrefix(l.Recipient, "bad"):
			return reply(time.Time{}, ip, queue.VerdictPermanent, "550 5.1.1 User unknown")
		case l.Attempts == 0:
			return reply(time.Time{}, ip, queue.VerdictDeferred, tempFail)
		}
		return reply(time.Time{}, ip, queue.VerdictDelivered, "250 2.0.0 Ok")
	})
	m := h.put(24*time.Hour, "ok@gmail.test", "bad@gmail.test", "later@gmail.test")
	s, _ := h.start("a", nil, queue.SchedulerConfig{Retry: []time.Duration{time.Minute}})

	var later queue.RecipientDetail
	eventually(t, "first round", func() bool {
		later = h.recipient(m.ID, "later@gmail.test")
		return len(h.Finals()) == 2 && len(later.Attempts) == 1
	})
	h.clock.Set(later.NextAttempt)
	s.Wake()
	eventually(t, "the deferred one delivered", func() bool { return len(h.Finals()) == 3 })
	// Wake again: nothing is due, nothing more is reported.
	s.Wake()
	h.clock.Set(later.NextAttempt.Add(time.Hour))
	s.Wake()
	eventually(t, "the store to settle", func() bool {
		return h.recipient(m.ID, "later@gmail.test").Status == queue.StatusDelivered
	})

	got := map[string]queue.Status{}
	for _, f := range h.Finals() {
		if _, dup := got[f.rcpt]; dup {
			t.Errorf("OnFinal called twice for %s", f.rcpt)
		}
		got[f.rcpt] = f.status
		if f.stored != f.status {
			t.Errorf("%s: OnFinal saw the store say %q, outcome %q: called before the store recorded it",
				f.rcpt, f.stored, f.status)
		}
	}
	want := map[string]queue.Status{"ok@gmail.test": queue.StatusDelivered,
		"bad@gmail.test": queue.StatusBounced, "later@gmail.test": queue.StatusDelivered}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("OnFinal calls %v, want %v", got, want)
	}
}

// blocking is a courier that holds its group until released.
type blocking struct {
	leased  chan struct{}
	release chan struct{}
}

func (b *blocking) Deliver(ctx context.Context, group []*queue.Lease) []queue.Result {
	close(b.leased)
	<-b.release
	rs := make([]queue.Result, len(group))
	for i := range rs {
		rs[i] = reply(time.Now(), poolIPs[0], queue.VerdictDelivered, "250 2.0.0 Ok")
	}
	return rs
}

// TestLeaseLostQuietly: a node whose lease expired while it delivered (and
// another node took the work) has its report refused; it logs a warning, no
// error, and does not call OnFinal: the other node's outcome stands.
func TestLeaseLostQuietly(t *testing.T) {
	h := newHarness(t, func(_ context.Context, l *queue.Lease, ip string) queue.Result {
		return reply(time.Time{}, ip, queue.VerdictPermanent, "550 5.1.1 User unknown")
	})
	m := h.put(24*time.Hour, "user@gmail.test")
	slow := &blocking{leased: make(chan struct{}), release: make(chan struct{})}
	_, stopA := h.start("node-a", slow, queue.SchedulerConfig{})
	<-slow.leased

	// A minute later A's lease has run out: B takes the delivery over.
	h.clock.Set(h.clock.Now().Add(2 * time.Minute))
	h.start("node-b", nil, queue.SchedulerConfig{})
	eventually(t, "node B's bounce", func() bool { return len(h.Finals()) == 1 })

	close(slow.release)
	eventually(t, "node A's refused report", func() bool {
		return h.logs.count(slog.LevelWarn, "lease lost before report") == 1
	})
	stopA()
	if n := len(h.Finals()); n != 1 {
		t.Errorf("OnFinal called %d times, want once (node B)", n)
	}
	if n := h.logs.count(slog.LevelError, ""); n != 0 {
		t.Errorf("%d error records for a lost lease", n)
	}
	r := h.recipient(m.ID, "user@gmail.test")
	if r.Status != queue.StatusBounced || len(r.Attempts) != 1 {
		t.Errorf("node B's outcome overwritten: status %s, %d attempts", r.Status, len(r.Attempts))
	}
}

// TestShutdownBeforeAttempt: work the courier gave back unattempted because
// the node is stopping is due at once, not a retry step later.
func TestShutdownBeforeAttempt(t *testing.T) {
	started := make(chan struct{})
	h := newHarness(t, func(ctx context.Context, l *queue.Lease, ip string) queue.Result {
		close(started)
		<-ctx.Done()
		return queue.Result{Verdict: queue.VerdictDeferred, Attempt: queue.Attempt{
			Response: "not attempted: context canceled", Verdict: "deferred", Category: "timeout"}}
	})
	m := h.put(24*time.Hour, "user@gmail.test")
	_, stop := h.start("a", nil, queue.SchedulerConfig{Retry: []time.Duration{time.Hour}})
	<-started
	stop()
	r := h.recipient(m.ID, "user@gmail.test")
	if len(r.Attempts) != 0 || !r.NextAttempt.Equal(h.clock.Now()) {
		t.Errorf("after shutdown: %d attempts, next %v; want none and due now (%v)",
			len(r.Attempts), r.NextAttempt, h.clock.Now())
	}
}

// TestDelayNotice: a delivery still deferred once delay_notice has passed
// since arrival gets OnDelay once, however many deferrals follow; one
// delivered before then gets none; 0 disables the notice.
func TestDelayNotice(t *testing.T) {
	for _, notice := range []time.Duration{30 * time.Minute, 0} {
		t.Run(fmt.Sprint(notice), func(t *testing.T) {
			h := newHarness(t, func(_ context.Context, l *queue.Lease, ip string) queue.Result {
				if strings.HasPrefix(l.Recipient, "ok") && l.Attempts == 1 {
					return reply(time.Time{}, ip, queue.VerdictDelivered, "250 2.0.0 Ok")
				}
				return reply(time.Time{}, ip, queue.VerdictDeferred, tempFail)
			})
			m := h.put(24*time.Hour, "slow@gmail.test", "ok@gmail.test")
			created := h.clock.Now()
			s, _ := h.start("a", nil, queue.SchedulerConfig{
				Retry: []time.Duration{10 * time.Minute}, DelayNotice: notice})
			for i := 1; i <= 8; i++ {
				var r queue.RecipientDetail
				eventually(t, fmt.Sprintf("attempt %d", i), func() bool {
					r = h.recipient(m.ID, "slow@gmail.test")
					return len(r.Attempts) == i
				})
				elapsed := h.clock.Now().Sub(created)
				want := 0
				if notice > 0 && elapsed >= notice {
					want = 1
				}
				if got := h.Delayed(); len(got) != want || (want == 1 && got[0] != "slow@gmail.test") {
					t.Fatalf("after attempt %d, %v in: delay notices %v, want %d for slow@", i, elapsed, got, want)
				}
				h.clock.Set(r.NextAttempt)
				s.Wake()
			}
			if ok := h.recipient(m.ID, "ok@gmail.test"); ok.Status != queue.StatusDelivered {
				t.Errorf("ok@: %s", ok.Status)
			}
		})
	}
}
