package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The group commit of Put.
//
// Puts made at once on a node are written together in rounds: the body
// chunks of them all (one insert), their deliveries (one insert,
// ordered), then their messages (one insert, ordered). Every delivery of a round names the
// message written last in it (deliveryDoc.Round). An ordered insert stops
// at its first failure, so once that message exists every message of the
// round does: Lease reads one message a round to know that a round's Puts
// committed, rather than one a message.
//
// A round where a Put failed before its message was written never writes
// its last message (that Put fails too, and its client tries again): the
// failed Put's deliveries name it, and must never count as committed. The
// others' deliveries are then found committed by their own message, once
// commitWait has passed.

// putRound bounds a round of the group commit whose Puts have no deadline.
const putRound = 30 * time.Second

// A round takes at most this many messages and body bytes, so that a
// flood of Puts is written in rounds of bounded latency.
const (
	maxPutRound      = 256
	maxPutRoundBytes = 16 << 20
)

// commitWait is how long after its Put Lease passes over a delivery whose
// round has not committed without reading its own message: its Put is most
// likely still under way. After it, Lease reads the message (the round may
// have failed after the message was written, or its last message may have
// been deleted since), and removes the delivery once orphanAge has passed.
const commitWait = 10 * time.Second

// pendingPut is one Put waiting for its round.
type pendingPut struct {
	ctx    context.Context
	msg    messageDoc
	dels   []deliveryDoc
	chunks []any
	done   chan error // buffered: the writer never waits for a Put gone
	err    error      // set by the round
}

// putQueue is the Puts waiting for the node's writer: a goroutine started
// when the first comes and gone when none is left.
type putQueue struct {
	mu       sync.Mutex
	queue    []*pendingPut
	flushing bool
}

// commit hands p to the writer and waits for its round.
func (s *Store) commit(ctx context.Context, p *pendingPut) error {
	q := &s.puts
	q.mu.Lock()
	q.queue = append(q.queue, p)
	if !q.flushing {
		q.flushing = true
		go s.flushPuts()
	}
	q.mu.Unlock()
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// Its round may still store it, as a Put cut short anywhere may.
		return ctx.Err()
	}
}

// flushPuts writes rounds while Puts wait.
func (s *Store) flushPuts() {
	q := &s.puts
	for {
		q.mu.Lock()
		n, size := 0, int64(0)
		for n < len(q.queue) && n < maxPutRound && (n == 0 || size+q.queue[n].msg.Size <= maxPutRoundBytes) {
			size += q.queue[n].msg.Size
			n++
		}
		if n == 0 {
			q.flushing = false
			q.mu.Unlock()
			return
		}
		round := q.queue[:n:n]
		q.queue = slices.Clone(q.queue[n:])
		q.mu.Unlock()
		s.writeRound(round)
		for _, p := range round {
			p.done <- p.err
		}
	}
}

// writeRound writes round's Puts and sets each one's error. A Put whose
// context ended before the round began is left out; the round's deadline
// is the earliest of the others', so that no message is written after its
// Put gave up waiting.
func (s *Store) writeRound(round []*pendingPut) {
	var live []*pendingPut
	deadline := time.Now().Add(putRound)
	for _, p := range round {
		if err := p.ctx.Err(); err != nil {
			p.err = err
			continue
		}
		if d, ok := p.ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	last := live[len(live)-1].msg.ID
	fail := func(p *pendingPut, what string, err error) {
		if p.err == nil {
			p.err = fmt.Errorf("mongodb: put %s: %s%w", p.msg.ID, what, err)
		}
	}

	var docs []any
	var owner []*pendingPut
	for _, p := range live {
		for _, c := range p.chunks {
			docs, owner = append(docs, c), append(owner, p)
		}
	}
	if len(docs) > 0 {
		for i, err := range insertAll(ctx, s.chunks, docs, false) {
			if err != nil {
				fail(owner[i], "body: ", err)
			}
		}
	}
	docs, owner = docs[:0], owner[:0]
	for _, p := range live {
		if p.err != nil {
			continue
		}
		for i := range p.dels {
			p.dels[i].Round = last
			docs, owner = append(docs, p.dels[i]), append(owner, p)
		}
	}
	if len(docs) > 0 {
		// Ordered: a Put whose delivery failed (its id taken: the
		// message's too, perhaps committed) writes none after it, so
		// that none of it can pass for that message's.
		for i, err := range insertAll(ctx, s.deliveries, docs, true) {
			if err != nil {
				fail(owner[i], "deliveries: ", err)
			}
		}
	}
	var msgs []any
	var of []*pendingPut
	broken := false
	for _, p := range live {
		if p.err != nil {
			broken = true
			continue
		}
		msgs, of = append(msgs, p.msg), append(of, p)
	}
	if broken && len(of) > 0 && of[len(of)-1].msg.ID == last {
		// The failed Puts' deliveries name last: it must never exist.
		fail(of[len(of)-1], "", errors.New("another message of its round failed: try again"))
		msgs, of = msgs[:len(msgs)-1], of[:len(of)-1]
	}
	if len(msgs) > 0 {
		for i, err := range insertAll(ctx, s.messages, msgs, true) {
			if err != nil {
				fail(of[i], "", err)
			}
		}
		if p := of[len(of)-1]; p.msg.ID == last && p.err == nil {
			s.own.add(last)
		}
	}
}

// ownRounds remembers the last ownRoundsKept rounds this node committed,
// by their last message: Lease then knows them committed without reading
// that message (the writer saw it stored), as it mostly leases what its
// own node just put. An older round is read like another node's.
type ownRounds struct {
	mu   sync.Mutex
	set  map[string]bool
	ring []string // the same ids, oldest overwritten first
	next int
}

const ownRoundsKept = 4096

func (r *ownRounds) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil {
		r.set, r.ring = map[string]bool{}, make([]string, ownRoundsKept)
	}
	delete(r.set, r.ring[r.next])
	r.ring[r.next] = id
	r.set[id] = true
	r.next = (r.next + 1) % len(r.ring)
}

func (r *ownRounds) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.set[id]
}

// insertAll inserts docs and returns each one's error (the same for all
// when the command failed as a whole). Ordered, it stops at the first
// failure, and the documents after it fail unwritten.
func insertAll(ctx context.Context, c *mongo.Collection, docs []any, ordered bool) []error {
	errs := make([]error, len(docs))
	_, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(ordered))
	if err == nil {
		return errs
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	first := len(docs)
	for _, we := range bwe.WriteErrors {
		if we.Index >= 0 && we.Index < len(docs) {
			errs[we.Index] = we
			first = min(first, we.Index)
		}
	}
	if ordered {
		for i := first + 1; i < len(docs); i++ {
			if errs[i] == nil {
				errs[i] = errors.New("not written: an earlier write of its round failed")
			}
		}
	}
	return errs
}
