package mongo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/testenv"
)

// TestManyNodesNeverShareALease is the proof the lease design rests on: on
// FerretDB, whose findOneAndUpdate is not atomic, many leasers on separate
// connections (as separate nodes) claim the same due deliveries at once,
// first when they are new and again when every lease has expired, and no
// delivery is ever handed to two of them. Only the latest holder's Report
// is taken.
func TestManyNodesNeverShareALease(t *testing.T) {
	const nodes, perNode, messages, rcpts, batch = 4, 3, 12, 5, 3
	first := openTest(t, Options{})
	stores := []*Store{first}
	for range nodes - 1 {
		s, err := Open(context.Background(), testenv.MongoDB(t), Options{Database: first.db.Name()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	for i := range messages {
		rc := make([]string, rcpts)
		for j := range rc {
			rc[j] = fmt.Sprintf("r%d-%d@one.test", i, j)
		}
		if err := first.Put(t.Context(), &queue.Message{From: "a@acme.test", Body: []byte("hi"), Recipients: rc}); err != nil {
			t.Fatal(err)
		}
	}

	// race has every leaser drain what is due at now; it returns the leases
	// each delivery was handed out under.
	race := func(now time.Time) map[string][]queue.Lease {
		var mu sync.Mutex
		got := map[string][]queue.Lease{}
		var wg sync.WaitGroup
		errs := make(chan error, nodes*perNode)
		for n, s := range stores {
			for g := range perNode {
				owner := fmt.Sprintf("node%d-%d", n, g)
				wg.Go(func() {
					for {
						ls, err := s.Lease(t.Context(), owner, now, time.Minute, batch)
						if err != nil {
							errs <- err
							return
						}
						if len(ls) == 0 {
							return
						}
						mu.Lock()
						for _, l := range ls {
							got[l.ID] = append(got[l.ID], l)
						}
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Lease: %v", err)
		}
		return got
	}
	check := func(what string, got map[string][]queue.Lease) {
		t.Helper()
		if len(got) != messages*rcpts {
			t.Fatalf("%s: %d deliveries leased, want %d", what, len(got), messages*rcpts)
		}
		for id, ls := range got {
			if len(ls) != 1 {
				t.Errorf("%s: delivery %s handed to %d leasers: %v", what, id, len(ls), owners(ls))
			}
		}
	}
	now := time.Now()
	old := race(now)
	check("new deliveries", old)
	// Every lease has expired: the same race again, over takeovers.
	renewed := race(now.Add(2 * time.Minute))
	check("expired leases", renewed)

	// Reports: the expired holders are refused, the current ones taken.
	for id, ls := range old {
		err := stores[0].Report(t.Context(), &ls[0], queue.Outcome{Status: queue.StatusDelivered,
			Attempt: queue.Attempt{Time: now, Response: "250 ok"}})
		if !errors.Is(err, queue.ErrLeaseLost) {
			t.Fatalf("Report of %s under an expired lease: %v, want ErrLeaseLost", id, err)
		}
	}
	for id, ls := range renewed {
		err := stores[1].Report(t.Context(), &ls[0], queue.Outcome{Status: queue.StatusDelivered,
			Attempt: queue.Attempt{Time: now, Response: "250 ok"}})
		if err != nil {
			t.Fatalf("Report of %s under its current lease: %v", id, err)
		}
	}
	c, err := first.Counts(t.Context())
	if err != nil || c[queue.StatusDelivered] != messages*rcpts {
		t.Fatalf("Counts = %v, %v; want %d delivered", c, err, messages*rcpts)
	}
}

func owners(ls []queue.Lease) []string {
	var out []string
	for _, l := range ls {
		out = append(out, fmt.Sprintf("%s@%d", l.Owner, l.Generation))
	}
	return out
}
