package queue_test

import (
	"context"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// midGroup delivers its group one lease at a time, says each success at
// once (queue.Delivered) and stops after the first until released.
type midGroup struct {
	first   chan struct{}
	release chan struct{}
}

func (c *midGroup) Deliver(ctx context.Context, group []*queue.Lease) []queue.Result {
	rs := make([]queue.Result, len(group))
	for i, l := range group {
		rs[i] = reply(time.Now(), poolIPs[0], queue.VerdictDelivered, "250 2.0.0 Ok")
		queue.Delivered(ctx, l, rs[i])
		if i == 0 {
			close(c.first)
			<-c.release
		}
	}
	return rs
}

// TestDeliveredRecordedMidGroup: a success the courier says while its
// group goes on is recorded (with its event, then OnFinal) before the group
// ends, so that a node killed mid-group does not send it again; the group's
// end records the rest, and nothing twice.
func TestDeliveredRecordedMidGroup(t *testing.T) {
	h := newHarness(t, nil)
	m := h.put(24*time.Hour, "a@gmail.test", "b@gmail.test", "c@gmail.test")
	c := &midGroup{first: make(chan struct{}), release: make(chan struct{})}
	outcomes := map[string]int{}
	events := make(chan map[string]int, 10)
	h.start("a", c, queue.SchedulerConfig{Retry: []time.Duration{time.Minute}, Workers: 1, PerConnection: 10,
		OnOutcomes: func(_ context.Context, items []queue.BounceItem) {
			for _, it := range items {
				outcomes[it.Lease.Recipient]++
			}
			snap := map[string]int{}
			for k, v := range outcomes {
				snap[k] = v
			}
			events <- snap
		}})
	<-c.first
	var first string
	eventually(t, "the first success recorded while the group goes on", func() bool {
		for _, r := range []string{"a@gmail.test", "b@gmail.test", "c@gmail.test"} {
			if h.recipient(m.ID, r).Status == queue.StatusDelivered && len(h.Finals()) > 0 {
				first = r
				return true
			}
		}
		return false
	})
	if f := h.Finals(); len(f) != 1 || f[0].rcpt != first || f[0].stored != queue.StatusDelivered {
		t.Errorf("OnFinal before the group ended: %+v, want %s's alone, after the store recorded it", f, first)
	}
	if ev := <-events; ev[first] != 1 || len(ev) != 1 {
		t.Errorf("events before the group ended: %v, want %s's alone", ev, first)
	}
	close(c.release)
	eventually(t, "the rest recorded at the group's end", func() bool {
		return h.recipient(m.ID, "a@gmail.test").Status == queue.StatusDelivered &&
			h.recipient(m.ID, "b@gmail.test").Status == queue.StatusDelivered &&
			h.recipient(m.ID, "c@gmail.test").Status == queue.StatusDelivered && len(h.Finals()) == 3
	})
	time.Sleep(100 * time.Millisecond) // anything recorded twice would show by now
	seen := map[string]int{}
	for _, f := range h.Finals() {
		seen[f.rcpt]++
	}
	for r, n := range seen {
		if n != 1 || outcomes[r] != 1 {
			t.Errorf("%s: OnFinal %d times, OnOutcomes %d times; want once each", r, n, outcomes[r])
		}
	}
	if len(seen) != 3 {
		t.Errorf("OnFinal for %v, want all three", seen)
	}
}
