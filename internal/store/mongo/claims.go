package mongo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Generations and claims.
//
// A delivery's generation moves on with every change after Put: a lease,
// a report, a hold, a release, a retry. To move delivery D from generation
// g (as read) to g+1, a writer first inserts the claim document "D#g+1.0".
// The _id is unique, so of all the writers that read generation g only one
// gets its insert through; the others get a duplicate-key error and give
// up. The winner then writes D, and nobody else does until generation g+2
// is claimed. Claims stay as long as their delivery, so a late writer that
// read an old generation always finds its claim taken.
//
// So mutual exclusion rests on the unique key alone, which FerretDB
// enforces atomically, and not on findOneAndUpdate or a conditional
// update, which on FerretDB are read-modify-writes (10 goroutines claiming
// 400 documents with findOneAndUpdate made 1,248 claims). It also lets
// every update filter on _id alone, the one filter FerretDB does not
// answer by scanning the collection.
//
// A winner that dies between its insert and its write leaves D at g with
// "D#g+1.0" taken. Each claim therefore carries an expiry; once "D#g+1.k"
// has expired with D still at g, the next writer claims "D#g+1.k+1". (A
// writer stalled between its insert and its write for longer than its
// claim could then collide with the next one: the same hazard as any
// lease's.)

// maxTries bounds how many expired claims of one generation are stepped
// over in one call, and how often a change retries.
const maxTries = 8

// parallel bounds the point reads run at once.
const parallel = 16

// maxUpdates bounds the updates sent in one command. FerretDB (v1.24, SQLite
// backend) keeps the read cursor of each update in a command open until the
// whole command ends, one pooled SQLite connection each, and has 100 of
// them: a bulk write of 150 updates waits for ever on itself (measured: it
// hangs; 99 take 70 ms), and with two nodes leasing large batches the
// server stopped for every client. Real MongoDB has no such limit; chunks
// of this size cost it little.
const maxUpdates = 16

// step is one delivery to move to its next generation.
type step struct {
	d      *deliveryDoc // as read; ID, MessageID and Gen needed
	update bson.M       // applied when claimed; a $set of gen and claim is added
}

// advance claims the next generation of each step's delivery for owner,
// the claims expiring at until, and applies the update of each one won.
// now decides whether an existing claim has expired. It returns which
// steps were applied. The caller checked, on what it read, that each
// update applies: the claim guarantees nobody changed it since.
func (s *Store) advance(ctx context.Context, owner string, now, until time.Time, steps []step) ([]bool, error) {
	won, err := s.advanceClaims(ctx, owner, now, until, steps)
	if err != nil {
		return nil, err
	}
	applied := make([]bool, len(steps))
	for i, c := range won {
		applied[i] = c.ID != ""
	}
	return applied, nil
}

// advanceClaims is advance returning, for each step applied, the claim
// that made its new generation (a zero claim for each not applied).
func (s *Store) advanceClaims(ctx context.Context, owner string, now, until time.Time, steps []step) ([]claimDoc, error) {
	applied := make([]bool, len(steps))
	if len(steps) == 0 {
		return nil, nil
	}
	claims := make([]claimDoc, len(steps))
	docs := make([]any, len(steps))
	for i, st := range steps {
		claims[i] = newClaim(st.d, owner, until, 0)
		docs[i] = claims[i]
	}
	dups, err := insertClaims(ctx, s.claims, docs)
	if err != nil {
		return nil, err
	}
	won := make([]bool, len(steps))
	for i := range steps {
		won[i] = !dups[i]
		if won[i] {
			continue
		}
		// Taken: by a live writer (give up), or by one that died (rare).
		c, ok, err := s.takeExpired(ctx, steps[i].d, owner, now, until)
		if err != nil {
			return nil, err
		}
		claims[i], won[i] = c, ok
	}

	var models []mongo.WriteModel
	var idx []int
	for i, st := range steps {
		if !won[i] {
			continue
		}
		u := bson.M{}
		for k, v := range st.update {
			u[k] = v
		}
		set := bson.M{"gen": claims[i].Gen, "claim": claims[i].ID}
		if prev, ok := u["$set"].(bson.M); ok {
			for k, v := range prev {
				set[k] = v
			}
		}
		u["$set"] = set
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": st.d.ID}).SetUpdate(u))
		idx = append(idx, i)
	}
	if len(models) == 0 {
		return appliedClaims(claims, applied), nil
	}
	matched, err := bulkUpdate(ctx, s.deliveries, models)
	if err != nil {
		// Unknown which applied. The claims stay; they expire at until.
		return nil, fmt.Errorf("update claimed deliveries: %w", err)
	}
	if matched == len(models) {
		for _, i := range idx {
			applied[i] = true
		}
		return appliedClaims(claims, applied), nil
	}
	// Some deliveries were deleted meanwhile: find which are left.
	ds := make([]*deliveryDoc, len(idx))
	err = each(len(idx), func(j int) error {
		var d deliveryDoc
		err := s.deliveries.FindOne(ctx, bson.M{"_id": steps[idx[j]].d.ID},
			options.FindOne().SetProjection(bson.M{"claim": 1})).Decode(&d)
		if err == nil {
			ds[j] = &d
		}
		return notFound(err, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("check claimed deliveries: %w", err)
	}
	for j, i := range idx {
		applied[i] = ds[j] != nil && ds[j].Claim == claims[i].ID
	}
	return appliedClaims(claims, applied), nil
}

// appliedClaims keeps the claims of the steps applied, zeroes the others.
func appliedClaims(claims []claimDoc, applied []bool) []claimDoc {
	for i := range claims {
		if !applied[i] {
			claims[i] = claimDoc{}
		}
	}
	return claims
}

// takeExpired claims d's next generation over expired claims of it, if the
// latest one has expired and d is still at the generation read.
func (s *Store) takeExpired(ctx context.Context, d *deliveryDoc, owner string, now, until time.Time) (claimDoc, bool, error) {
	// The latest claim of the generation: claim ids are numbered from 0,
	// and a later one is made only once the one before expired. A live one
	// ends the walk: the usual case, a claim another node just made, costs
	// one read. (Stopping short of a later claim only ever gives up.)
	var last claimDoc
	for k := 0; ; k++ {
		var c claimDoc
		err := s.claims.FindOne(ctx, bson.M{"_id": claimID(d.ID, d.Gen+1, k)}).Decode(&c)
		if errors.Is(err, mongo.ErrNoDocuments) {
			break
		}
		if err != nil {
			return claimDoc{}, false, fmt.Errorf("read claim: %w", err)
		}
		last = c
		if now.Before(c.Until) {
			return claimDoc{}, false, nil
		}
	}
	for range maxTries {
		if last.ID == "" || now.Before(last.Until) {
			return claimDoc{}, false, nil // a live claim: someone else's turn
		}
		var cur deliveryDoc
		err := s.deliveries.FindOne(ctx, bson.M{"_id": d.ID},
			options.FindOne().SetProjection(bson.M{"gen": 1})).Decode(&cur)
		if err != nil || cur.Gen != d.Gen {
			return claimDoc{}, false, notFound(err, nil) // gone or moved on
		}
		c := newClaim(d, owner, until, last.Try+1)
		_, err = s.claims.InsertOne(ctx, c)
		if err == nil {
			return c, true, nil
		}
		if !isDup(err) {
			return claimDoc{}, false, fmt.Errorf("claim: %w", err)
		}
		// Another writer stepped over the same expired claim first; look
		// at its claim in turn.
		last = claimDoc{}
		if err := s.claims.FindOne(ctx, bson.M{"_id": c.ID}).Decode(&last); err != nil {
			return claimDoc{}, false, notFound(err, nil)
		}
	}
	return claimDoc{}, false, nil
}

func claimID(delivery string, gen int64, try int) string {
	return fmt.Sprintf("%s#%d.%d", delivery, gen, try)
}

func newClaim(d *deliveryDoc, owner string, until time.Time, try int) claimDoc {
	next := d.Gen + 1
	return claimDoc{
		ID:       claimID(d.ID, next, try),
		Delivery: d.ID, MessageID: d.MessageID, Gen: next, Try: try, Owner: owner, Until: ms(until),
	}
}

// insertClaims inserts claim documents in one unordered batch and reports
// which failed on a duplicate key. Any other failure is an error.
func insertClaims(ctx context.Context, c *mongo.Collection, docs []any) ([]bool, error) {
	dup := make([]bool, len(docs))
	_, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return dup, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 && we.Code != 11001 {
			return nil, fmt.Errorf("claim: %w", err)
		}
		if we.Index >= 0 && we.Index < len(dup) {
			dup[we.Index] = true
		}
	}
	return dup, nil
}

// bulkUpdate sends models (updates filtered on _id) unordered, at most
// maxUpdates to a command, and returns how many matched.
func bulkUpdate(ctx context.Context, c *mongo.Collection, models []mongo.WriteModel) (int, error) {
	matched := 0
	for len(models) > 0 {
		n := min(maxUpdates, len(models))
		res, err := c.BulkWrite(ctx, models[:n], options.BulkWrite().SetOrdered(false))
		if err != nil {
			return matched, err
		}
		matched += int(res.MatchedCount)
		models = models[n:]
	}
	return matched, nil
}

// each runs fn(0) … fn(n-1), at most parallel at once, and returns the
// first error.
func each(n int, fn func(i int) error) error {
	if n == 1 {
		return fn(0)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, parallel)
	)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}
