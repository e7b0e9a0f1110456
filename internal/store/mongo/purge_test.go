package mongo

import (
	"bytes"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"sendpool/internal/queue"
)

// TestPurgeLeavesNoDocuments looks inside: a bounced message's chunks go at
// the bounce, and once purged nothing of it is left in any collection
// (deliveries, done, claims, chunks, messages).
func TestPurgeLeavesNoDocuments(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Options{ChunkSize: 1000})
	m := &queue.Message{Account: "acme", From: "a@acme.test", Body: bytes.Repeat([]byte("x"), 2500),
		Recipients: []string{"a@one.test", "b@two.test"}}
	if err := s.Put(ctx, m); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ls, err := s.Lease(ctx, "n", now, time.Minute, 10)
	if err != nil || len(ls) != 2 {
		t.Fatalf("Lease: %d, %v", len(ls), err)
	}
	for i := range ls {
		if err := s.Report(ctx, &ls[i], queue.Outcome{Status: queue.StatusBounced,
			Attempt: queue.Attempt{Time: now, Response: "550 no"}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.chunks.CountDocuments(ctx, bson.M{}); n != 0 {
		t.Fatalf("%d chunks left once every recipient bounced", n)
	}
	if n, _ := s.claims.CountDocuments(ctx, bson.M{"m": m.ID}); n == 0 {
		t.Fatalf("setup: no claims to purge")
	}
	time.Sleep(3 * time.Millisecond) // past the millisecond it finished in
	if n, err := s.Purge(ctx, time.Now(), 10); err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1", n, err)
	}
	for _, c := range []*mongo.Collection{s.messages, s.deliveries, s.done, s.claims, s.chunks} {
		if n, err := c.CountDocuments(ctx, bson.M{}); err != nil || n != 0 {
			t.Errorf("%s: %d documents left after purge (%v)", c.Name(), n, err)
		}
	}
}

// TestPurgeOfMessagesFinishedBeforeRetention: a final message stored before
// Finished was kept has none; its creation stands in.
func TestPurgeOfMessagesFinishedBeforeRetention(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Options{})
	created := time.Now().Add(-100 * time.Hour)
	for _, d := range []messageDoc{
		{ID: queue.NewID(created), Status: queue.StatusBounced, Created: ms(created), Rcpts: 1, Body: []byte("hi")},
		{ID: queue.NewID(created.Add(time.Millisecond)), Status: queue.StatusDeferred, Created: ms(created), Rcpts: 1},
	} {
		if _, err := s.messages.InsertOne(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Purge(ctx, created, 10); err != nil || n != 0 {
		t.Fatalf("Purge(at creation) = %d, %v; want 0", n, err)
	}
	if n, err := s.Purge(ctx, created.Add(time.Millisecond), 10); err != nil || n != 1 {
		t.Fatalf("Purge(after creation) = %d, %v; want 1 (the final one)", n, err)
	}
}
