package webhook_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/store/mongo"
	"sendpool/internal/testclock"
	"sendpool/internal/testenv"
	"sendpool/internal/webhook"
)

// TestTwoNodesOneStore: two nodes, each with its own sender, share one
// MongoDB (FerretDB) store. Every event reaches the receiver, and no
// event's request is ever in flight twice at once: the claim lets one node
// send it at a time. The receiver holds each request a while, to give two
// nodes every chance to overlap; every first attempt succeeds, so each
// event comes exactly once.
func TestTwoNodesOneStore(t *testing.T) {
	uri := testenv.MongoDB(t)
	b := make([]byte, 6)
	rand.Read(b)
	db := "sendpool_test_" + hex.EncodeToString(b)
	open := func() *mongo.Store {
		s, err := mongo.Open(context.Background(), uri, mongo.Options{Database: db})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s1, s2 := open(), open()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s1.Drop(ctx)
		s1.Close()
		s2.Close()
	})
	clock := testclock.New()
	tune := func(c *webhook.SenderConfig) { c.Concurrency = 8; c.Timeout = 5 * time.Second }
	n1 := newNode(t, clock, s1, "node1", tune)
	n2 := newNode(t, clock, s2, "node2", tune)
	rc := newReceiver(t)
	rc.setRespond(func(int, request) (int, time.Duration) { return 200, 30 * time.Millisecond })
	n1.endpoint(rc.url(), "", webhook.AllTypes()...)

	// Events written on both nodes: messages accepted on one, delivered
	// from the other.
	const msgs = 15
	for i := range msgs {
		acc, del := n1, n2
		if i%2 == 1 {
			acc, del = n2, n1
		}
		id := acc.message("shop1", fmt.Sprintf("%d@shop1.test", i))
		del.outcome(id, "shop1", queue.StatusDelivered, "250 ok")
	}
	const want = 2 * msgs
	eventually(t, "every event", func() bool { return len(rc.delivered()) == want })
	time.Sleep(300 * time.Millisecond) // a duplicate would have come by now

	rc.mu.Lock()
	defer rc.mu.Unlock()
	count := map[string]int{}
	for _, r := range rc.reqs {
		count[r.ID]++
		// Half the deliveries are reported by the node that did not accept
		// the message: it reads the Message-ID from the store.
		if r.Event.HeaderMessageID == "" {
			t.Errorf("%s of %s: no header_message_id", r.Event.Type, r.Event.MessageID)
		}
	}
	for id, n := range rc.overlap {
		if n > 1 {
			t.Errorf("%s was in flight %d times at once", id, n)
		}
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("%s came %d times; every first attempt succeeded", id, n)
		}
	}
	if len(count) != want {
		t.Errorf("%d distinct events, want %d", len(count), want)
	}
	if rc.max < 2 {
		t.Logf("at most %d requests at once: the nodes barely overlapped", rc.max)
	}
}
