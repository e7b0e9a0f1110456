package events

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"sendpool/internal/state/redis"
	"sendpool/internal/testenv"
)

// twoNodes opens two handles (two nodes) on the test Redis under a key
// prefix of their own, deleted afterwards.
func twoNodes(t *testing.T) (*redis.State, *redis.State) {
	t.Helper()
	url := testenv.Redis(t)
	prefix := "sendpool-test:" + rand.Text() + ":"
	open := func() *redis.State {
		s, err := redis.Open(t.Context(), url, redis.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := open(), open()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := redis.NewClient(url, 5*time.Second)
		if err == nil {
			keys, kerr := c.Keys(ctx, prefix+"*").Result()
			if err = kerr; err == nil && len(keys) > 0 {
				err = c.Del(ctx, keys...).Err()
			}
			c.Close()
		}
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		a.Close()
		b.Close()
	})
	return a, b
}

// TestEventsSharedByNodes: two Logs, each on its own Redis handle (two
// nodes); what one node's intake refused, the other lists, by kind and by
// account, in time order with its own.
func TestEventsSharedByNodes(t *testing.T) {
	sa, sb := twoNodes(t)
	a, b := newLog(t, Config{State: sa}), newLog(t, Config{State: sb})
	now := time.Now()
	a.Add(Event{Time: now, Kind: KindRefused, Account: "shop1", Reply: "550 5.7.1 Message refused as spam", Check: "scan"})
	// Node a's entry is written in the background: without waiting for it
	// here, b's first List may not have it yet, so b polls.
	var got []Event
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if got, err = b.List(t.Context(), Filter{Kind: KindRefused}); err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(got) != 1 || got[0].Account != "shop1" || got[0].Check != "scan" || !got[0].Time.Equal(now) {
		t.Fatalf("node b lists %+v, want node a's refusal", got)
	}
	b.Add(Event{Time: now.Add(time.Second), Kind: KindAccepted, Account: "shop1", ID: "m1"})
	got, err := b.List(t.Context(), Filter{Account: "shop1"})
	if err != nil || len(got) != 2 || got[0].ID != "m1" || got[1].Kind != KindRefused {
		t.Fatalf("node b's list of shop1: %+v, %v; want its own acceptance, then a's refusal", got, err)
	}
	// And node a sees b's, once b has written it (b's List above synced).
	got, err = a.List(t.Context(), Filter{ID: "m1"})
	if err != nil || len(got) != 1 || got[0].Kind != KindAccepted {
		t.Fatalf("node a lists %+v, %v; want node b's acceptance", got, err)
	}
}
