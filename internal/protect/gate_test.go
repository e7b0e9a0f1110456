package protect

import (
	"context"
	"sync"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/queue"
)

// countingCourier delivers everything and remembers what.
type countingCourier struct {
	mu  sync.Mutex
	got []string
}

func (c *countingCourier) Deliver(_ context.Context, group []*queue.Lease) []queue.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := make([]queue.Result, len(group))
	for i, l := range group {
		c.got = append(c.got, l.MessageID)
		rs[i] = queue.Result{Verdict: queue.VerdictDelivered, Attempt: queue.Attempt{Time: time.Now(), Response: "250 ok"}}
	}
	return rs
}

// TestGate: through the real scheduler and store, the mail of an account
// suspended after it was queued is never handed to the courier: it is held
// (the account's status read at most a second late); other accounts' mail
// goes; once the account is active and released, its mail goes too.
func TestGate(t *testing.T) {
	f := newFixture(t, Thresholds{}, "shop", "other")
	put := func(acct string) string {
		m := &queue.Message{ID: queue.NewID(time.Now()), Account: acct, From: "s@" + acct + ".test",
			Recipients: []string{"r@x.test"}, Body: []byte("x"), Expires: time.Now().Add(time.Hour)}
		if err := f.st.Put(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // distinct ids
		return m.ID
	}
	shop1, other1 := put("shop"), put("other")
	a, _ := f.st.GetAccount(t.Context(), "shop")
	a.Status = account.StatusSuspended // as an admin would, without touching the queue
	if err := f.st.UpdateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}

	c := &countingCourier{}
	g := NewGate(c, GateConfig{Accounts: f.st, Queue: f.st})
	sched := queue.NewScheduler(f.st, g, queue.SchedulerConfig{Owner: "n1", Poll: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); sched.Run(ctx) }()
	defer func() { cancel(); <-done }()

	status := func(id string) queue.Status {
		d, err := f.st.GetMessage(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return d.Status
	}
	deadline := time.Now().Add(10 * time.Second)
	for status(shop1) != queue.StatusHeld || status(other1) != queue.StatusDelivered {
		if time.Now().After(deadline) {
			t.Fatalf("shop's message %s, other's %s; want held and delivered", status(shop1), status(other1))
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.mu.Lock()
	got := append([]string(nil), c.got...)
	c.mu.Unlock()
	if len(got) != 1 || got[0] != other1 {
		t.Fatalf("courier got %v, want only %s", got, other1)
	}

	a.Status = account.StatusActive
	f.st.UpdateAccount(t.Context(), a)
	if _, err := f.st.ReleaseAccount(t.Context(), "shop"); err != nil {
		t.Fatal(err)
	}
	sched.Wake()
	for status(shop1) != queue.StatusDelivered {
		if time.Now().After(deadline) {
			t.Fatalf("released message: %s", status(shop1))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
