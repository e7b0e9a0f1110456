package queue_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// TestOutcomesHookBeforeRecord: every outcome of a group (delivered,
// bounced, deferred) goes to OnOutcomes in one call while the store still
// shows none of them, after OnBounce (which sees the bounces first); only
// then are they recorded. So whatever OnOutcomes writes (webhook events)
// exists before the state change it reports.
func TestOutcomesHookBeforeRecord(t *testing.T) {
	h := newHarness(t, func(_ context.Context, l *queue.Lease, ip string) queue.Result {
		switch l.Recipient {
		case "ok@gmail.test":
			return reply(time.Time{}, ip, queue.VerdictDelivered, "250 2.0.0 Ok")
		case "bad@gmail.test":
			return reply(time.Time{}, ip, queue.VerdictPermanent, "550 5.1.1 User unknown")
		}
		return reply(time.Time{}, ip, queue.VerdictDeferred, "451 4.3.0 Try later")
	})
	m := h.put(24*time.Hour, "ok@gmail.test", "bad@gmail.test", "later@gmail.test")
	var mu sync.Mutex
	var order []string
	type seen struct {
		rcpt           string
		status, stored queue.Status
	}
	var got []seen
	cfg := queue.SchedulerConfig{Workers: 1,
		OnBounce: func(context.Context, []queue.BounceItem) error {
			mu.Lock()
			order = append(order, "bounce")
			mu.Unlock()
			return nil
		},
		OnOutcomes: func(ctx context.Context, items []queue.BounceItem) {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, "outcomes")
			for _, it := range items {
				got = append(got, seen{it.Lease.Recipient, it.Outcome.Status, h.recipient(m.ID, it.Lease.Recipient).Status})
			}
		}}
	h.start("a", nil, cfg)
	eventually(t, "all recorded", func() bool {
		return h.recipient(m.ID, "later@gmail.test").Status == queue.StatusDeferred && len(h.Finals()) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, []string{"bounce", "outcomes"}) {
		t.Errorf("hooks ran %v, want OnBounce then OnOutcomes, once each", order)
	}
	slices.SortFunc(got, func(a, b seen) int { return strings.Compare(a.rcpt, b.rcpt) })
	want := []seen{{"bad@gmail.test", queue.StatusBounced, queue.StatusQueued},
		{"later@gmail.test", queue.StatusDeferred, queue.StatusQueued},
		{"ok@gmail.test", queue.StatusDelivered, queue.StatusQueued}}
	if !slices.Equal(got, want) {
		t.Errorf("OnOutcomes saw %+v\nwant %+v (outcome given, nothing recorded yet)", got, want)
	}
}
