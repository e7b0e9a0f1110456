package queue_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// flakyReports is a store whose first ReportAll calls fail, as a store
// that is down for a moment (killed and restarted) does.
type flakyReports struct {
	queue.Store
	mu       sync.Mutex
	failures int
	calls    int
}

func (s *flakyReports) ReportAll(ctx context.Context, ls []*queue.Lease, os []queue.Outcome) []error {
	s.mu.Lock()
	s.calls++
	fail := s.failures > 0
	if fail {
		s.failures--
	}
	s.mu.Unlock()
	if fail {
		errs := make([]error, len(ls))
		for i := range errs {
			errs[i] = errors.New("connection closed unexpectedly by the other side")
		}
		return errs
	}
	return s.Store.ReportAll(ctx, ls, os)
}

// TestReportRetriedWhileStoreDown (issue 13): the store cannot take a
// delivery's result for a moment; the result is recorded once it can,
// not left to wait for the lease to lapse (the clock here never moves, so
// it never would) and the message to be sent again.
func TestReportRetriedWhileStoreDown(t *testing.T) {
	h := newHarness(t, func(_ context.Context, l *queue.Lease, ip string) queue.Result {
		return reply(time.Time{}, ip, queue.VerdictDelivered, "250 2.0.0 Ok")
	})
	flaky := &flakyReports{failures: 3}
	h.wrap = func(st queue.Store) queue.Store { flaky.Store = st; return flaky }
	m := h.put(24*time.Hour, "user@gmail.test")
	h.start("a", nil, queue.SchedulerConfig{Retry: []time.Duration{time.Minute}})
	eventually(t, "the delivery recorded", func() bool {
		return h.recipient(m.ID, "user@gmail.test").Status == queue.StatusDelivered
	})
	if n := len(h.courier.Calls()); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}
	flaky.mu.Lock()
	calls := flaky.calls
	flaky.mu.Unlock()
	if calls != 4 {
		t.Errorf("%d reports, want 4 (3 failed)", calls)
	}
	if n := h.logs.count(slog.LevelError, "report"); n != 0 {
		t.Errorf("%d report errors logged; the report went through in the end", n)
	}
}
