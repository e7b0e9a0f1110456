package queue

import (
	"testing"
	"time"

	"sendpool/internal/testclock"
)

// TestOutcomeGreylistedKeepsIP: a greylisted deferral asks for the same
// source IP next time; any other deferral clears the wish.
func TestOutcomeGreylistedKeepsIP(t *testing.T) {
	s := NewScheduler(nil, nil, SchedulerConfig{Retry: []time.Duration{time.Minute}})
	l := &Lease{Delivery: Delivery{NextIP: "127.0.0.9"}}
	o := s.outcome(l, Result{Verdict: VerdictDeferred, Greylisted: true, Attempt: Attempt{SourceIP: "127.0.0.3"}})
	if o.Status != StatusDeferred || o.NextIP != "127.0.0.3" {
		t.Errorf("greylisted: %+v, want deferred with NextIP 127.0.0.3", o)
	}
	o = s.outcome(l, Result{Verdict: VerdictDeferred, Attempt: Attempt{SourceIP: "127.0.0.3"}})
	if o.NextIP != "" {
		t.Errorf("generic 4xx: NextIP %q, want none", o.NextIP)
	}
}

// TestOutcomeRetryAtWhenSooner: with every IP suspended, the delivery comes
// due when the first returns if that is before the retry step, and never
// later than the step.
func TestOutcomeRetryAtWhenSooner(t *testing.T) {
	now := testclock.New().Now()
	s := NewScheduler(nil, nil, SchedulerConfig{Retry: []time.Duration{time.Hour}, Now: func() time.Time { return now }})
	l := &Lease{}
	o := s.outcome(l, Result{Verdict: VerdictDeferred, RetryAt: now.Add(10 * time.Minute)})
	if !o.Next.Equal(now.Add(10 * time.Minute)) {
		t.Errorf("Next = %v, want when the first IP returns", o.Next)
	}
	o = s.outcome(l, Result{Verdict: VerdictDeferred, RetryAt: now.Add(5 * time.Hour)})
	if o.Next.After(now.Add(66*time.Minute)) || o.Next.Before(now.Add(54*time.Minute)) {
		t.Errorf("Next = %v, want the retry step (1h ±10%%)", o.Next)
	}
}
