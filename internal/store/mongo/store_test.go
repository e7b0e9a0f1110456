package mongo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"sendpool/internal/domain"
	"sendpool/internal/domain/domaintest"
	"sendpool/internal/queue"
	"sendpool/internal/queue/queuetest"
	"sendpool/internal/testenv"
)

// openTest opens a store on a database of its own, dropped afterwards.
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	uri := testenv.MongoDB(t)
	if opts.Database == "" {
		b := make([]byte, 6)
		rand.Read(b)
		opts.Database = "sendpool_test_" + hex.EncodeToString(b)
	}
	s, err := Open(context.Background(), uri, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Drop(ctx); err != nil {
			t.Errorf("Drop: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queue.Store { return openTest(t, Options{}) })
}

// TestKeptBodies: with Options.BodyCache, delivery opens the body this
// node put (queuetest.KeptBodies): no find, no document decoded.
func TestKeptBodies(t *testing.T) {
	queuetest.KeptBodies(t, openTest(t, Options{BodyCache: 1 << 20}))
}

// TestBodyStoredOnce looks inside: one copy of the body however many
// recipients, in chunks when large, and none once every recipient has it.
func TestBodyStoredOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		chunks int
	}{{"inline", 1000, 0}, {"chunked", 2500, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, Options{ChunkSize: 1000})
			body := bytes.Repeat([]byte("x\r\n"), tc.size/3+1)[:tc.size]
			m := &queue.Message{Account: "acme", From: "a@acme.test", Body: body,
				Recipients: []string{"a@one.test", "b@one.test", "c@two.test"}}
			if err := s.Put(ctx, m); err != nil {
				t.Fatal(err)
			}
			var doc messageDoc
			if err := s.messages.FindOne(ctx, bson.M{"_id": m.ID}).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			n, err := s.chunks.CountDocuments(ctx, bson.M{"m": m.ID})
			if err != nil {
				t.Fatal(err)
			}
			if doc.Chunks != tc.chunks || int(n) != tc.chunks || (tc.chunks == 0) != (len(doc.Body) == tc.size) {
				t.Fatalf("stored %d inline bytes and %d chunks (doc says %d), want %d chunks",
					len(doc.Body), n, doc.Chunks, tc.chunks)
			}
			if got, err := s.Body(ctx, m.ID); err != nil || !bytes.Equal(got, body) {
				t.Fatalf("Body = %d bytes, %v; want the %d put", len(got), err, len(body))
			}
			now := time.Now()
			ls, err := s.Lease(ctx, "n", now, time.Minute, 10)
			if err != nil || len(ls) != 3 {
				t.Fatalf("Lease: %d, %v", len(ls), err)
			}
			for i := range ls {
				if err := s.Report(ctx, &ls[i], queue.Outcome{Status: queue.StatusDelivered,
					Attempt: queue.Attempt{Time: now, Response: "250 ok"}}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.Body(ctx, m.ID); err != queue.ErrNotFound {
				t.Fatalf("Body of a delivered message: %v, want ErrNotFound (dropped)", err)
			}
			if n, _ := s.chunks.CountDocuments(ctx, bson.M{}); n != 0 {
				t.Fatalf("%d chunks left after delivery", n)
			}
			doc = messageDoc{}
			if err := s.messages.FindOne(ctx, bson.M{"_id": m.ID}).Decode(&doc); err != nil || doc.Body != nil {
				t.Fatalf("message after delivery: %d body bytes, %v", len(doc.Body), err)
			}
		})
	}
}

// TestBouncedDropsBody: the DSN of a bounce is built before the bounce is
// recorded (queue.SchedulerConfig.OnBounce), so a final bounce keeps no body.
func TestBouncedDropsBody(t *testing.T) {
	s := openTest(t, Options{})
	m := &queue.Message{From: "a@acme.test", Body: []byte("hi"), Recipients: []string{"a@one.test"}}
	if err := s.Put(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	ls, err := s.Lease(t.Context(), "n", time.Now(), time.Minute, 1)
	if err != nil || len(ls) != 1 {
		t.Fatalf("Lease: %d, %v", len(ls), err)
	}
	if err := s.Report(t.Context(), &ls[0], queue.Outcome{Status: queue.StatusBounced}); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Body(t.Context(), m.ID); err != queue.ErrNotFound {
		t.Fatalf("Body of a bounced message = %q, %v; want ErrNotFound (dropped)", b, err)
	}
}

// TestUnfinishedPutIsInvisible: deliveries whose message document never
// came (Put died between its writes) are not leased, and are removed once
// old.
func TestUnfinishedPutIsInvisible(t *testing.T) {
	ctx := t.Context()
	clock := time.Now()
	s := openTest(t, Options{Now: func() time.Time { return clock }})
	id := queue.NewID(clock)
	_, err := s.deliveries.InsertOne(ctx, deliveryDoc{ID: id + "/0", MessageID: id, Recipient: "a@one.test",
		Domain: "one.test", Status: queue.StatusQueued, Next: ms(clock), Put: ms(clock), Tried: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if ls, err := s.Lease(ctx, "n", clock, time.Minute, 10); err != nil || len(ls) != 0 {
		t.Fatalf("Lease = %d, %v; want nothing of a message not yet stored", len(ls), err)
	}
	if n, _ := s.deliveries.CountDocuments(ctx, bson.M{}); n != 1 {
		t.Fatalf("a fresh orphan was removed (%d left); a Put may still be under way", n)
	}
	clock = clock.Add(orphanAge + time.Second)
	if ls, err := s.Lease(ctx, "n", clock, time.Minute, 10); err != nil || len(ls) != 0 {
		t.Fatalf("Lease = %d, %v; want nothing", len(ls), err)
	}
	if n, _ := s.deliveries.CountDocuments(ctx, bson.M{}); n != 0 {
		t.Fatalf("%d orphan deliveries left after %v", n, orphanAge)
	}
}

// TestClaimOfDeadWriterExpires: a writer that inserted its claim and died
// before updating the delivery holds it only until the claim expires.
func TestClaimOfDeadWriterExpires(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Options{})
	m := &queue.Message{From: "a@acme.test", Body: []byte("hi"), Recipients: []string{"a@one.test"}}
	if err := s.Put(ctx, m); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	dead := &deliveryDoc{ID: m.ID + "/0", MessageID: m.ID, Gen: 0}
	if _, err := s.claims.InsertOne(ctx, newClaim(dead, "dead-node", now.Add(time.Minute), 0)); err != nil {
		t.Fatal(err)
	}
	if ls, err := s.Lease(ctx, "b", now, time.Minute, 10); err != nil || len(ls) != 0 {
		t.Fatalf("Lease under a live claim = %d, %v; want nothing", len(ls), err)
	}
	ls, err := s.Lease(ctx, "b", now.Add(61*time.Second), time.Minute, 10)
	if err != nil || len(ls) != 1 || ls[0].Generation != 1 {
		t.Fatalf("Lease after the claim expired = %v, %v; want the delivery at generation 1", ls, err)
	}
	if err := s.Report(ctx, &ls[0], queue.Outcome{Status: queue.StatusDelivered,
		Attempt: queue.Attempt{Time: now, Response: "250 ok"}}); err != nil {
		t.Fatal(err)
	}
}

func TestDomainConformance(t *testing.T) {
	domaintest.Run(t, func(t *testing.T) domain.Store { return openTest(t, Options{}) })
}

// TestClaimWalkStopsAtLiveClaim: over claims of dead writers, a writer
// takes the generation only once the latest claim has expired; a live
// later claim (another node stepped over the dead one first) holds it.
func TestClaimWalkStopsAtLiveClaim(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Options{})
	m := &queue.Message{From: "a@acme.test", Body: []byte("hi"), Recipients: []string{"a@one.test"}}
	if err := s.Put(ctx, m); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	d := &deliveryDoc{ID: m.ID + "/0", MessageID: m.ID, Gen: 0}
	for k, until := range []time.Time{now.Add(-time.Second), now.Add(time.Minute)} {
		if _, err := s.claims.InsertOne(ctx, newClaim(d, "node-"+string(rune('x'+k)), until, k)); err != nil {
			t.Fatal(err)
		}
	}
	if ls, err := s.Lease(ctx, "b", now, time.Minute, 10); err != nil || len(ls) != 0 {
		t.Fatalf("Lease under an expired claim and a live later one = %d, %v; want nothing", len(ls), err)
	}
	ls, err := s.Lease(ctx, "b", now.Add(61*time.Second), time.Minute, 10)
	if err != nil || len(ls) != 1 || ls[0].Generation != 1 {
		t.Fatalf("Lease once both expired = %v, %v; want the delivery at generation 1", ls, err)
	}
	var c claimDoc
	if err := s.claims.FindOne(ctx, bson.M{"_id": claimID(d.ID, 1, 2)}).Decode(&c); err != nil || c.Owner != "b" {
		t.Fatalf("claim #1.2 = %+v, %v; want b's", c, err)
	}
}

// TestLeaseOfALargeBatch: one Lease of more deliveries than FerretDB has
// SQLite connections (100), and ReleaseOwner of them all. Sent as one bulk
// write, the updates held one connection each until the command ended and
// the server waited on itself for ever (claims.go, maxUpdates).
func TestLeaseOfALargeBatch(t *testing.T) {
	const n = 150
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s := openTest(t, Options{})
	for i := range n {
		m := &queue.Message{From: "a@acme.test", Body: []byte("hi"), Recipients: []string{"r" + strconv.Itoa(i) + "@one.test"}}
		if err := s.Put(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := s.Lease(ctx, "a", time.Now(), time.Minute, 2*n)
	if err != nil || len(ls) != n {
		t.Fatalf("Lease = %d, %v; want %d", len(ls), err, n)
	}
	if got, err := s.ReleaseOwner(ctx, "a"); err != nil || got != n {
		t.Fatalf("ReleaseOwner = %d, %v; want %d", got, err, n)
	}
}
