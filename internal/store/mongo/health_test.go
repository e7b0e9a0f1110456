package mongo

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestProbe: the health probe writes one document per node, replaced by
// each probe; with the server unreachable it fails within its context.
func TestProbe(t *testing.T) {
	s := openTest(t, Options{})
	ctx := t.Context()
	for range 2 {
		if err := s.Probe(ctx, "node-a"); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.db.Collection("health").CountDocuments(ctx, bson.M{})
	if err != nil || n != 1 {
		t.Errorf("%d health documents after two probes of one node, %v; want 1", n, err)
	}

	down, err := Open(ctx, "mongodb://127.0.0.1:1/", Options{ConnectTimeout: 200 * time.Millisecond})
	if err == nil {
		defer down.Close()
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := down.Probe(pctx, "node-a"); err == nil {
			t.Error("a probe of an unreachable server succeeded")
		}
	}
}
