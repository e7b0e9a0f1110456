package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"sendpool/internal/webhook"
)

// appendRound bounds one round of a node's group commit.
const appendRound = 30 * time.Second

// allocRounds bounds how often an allocation looks further when other
// nodes took the seqs it tried.
const allocRounds = 64

// pendingAppend is one Append waiting for the node's writer.
type pendingAppend struct {
	recs []webhook.Record
	done chan error
}

// Append stores the records' events and sends. Appends made at once on
// this node share one round of writes (a group commit): the writer is a
// goroutine started when the first comes and gone when none is left.
func (s *Store) Append(ctx context.Context, recs []webhook.Record) error {
	if len(recs) == 0 {
		return nil
	}
	p := &pendingAppend{recs: recs, done: make(chan error, 1)}
	h := s.hooks
	h.qmu.Lock()
	h.queue = append(h.queue, p)
	if !h.flushing {
		h.flushing = true
		go s.flushAppends()
	}
	h.qmu.Unlock()
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// The round may still write them: at least once, never lost
		// silently.
		return ctx.Err()
	}
}

func (s *Store) flushAppends() {
	h := s.hooks
	for {
		h.qmu.Lock()
		batch := h.queue
		h.queue = nil
		if len(batch) == 0 {
			h.flushing = false
			h.qmu.Unlock()
			return
		}
		h.qmu.Unlock()
		var recs []*webhook.Record
		for _, p := range batch {
			for i := range p.recs {
				recs = append(recs, &p.recs[i])
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), appendRound)
		start := time.Now()
		err := s.appendRecords(ctx, recs)
		cancel()
		if took := time.Since(start); took > time.Second {
			s.log.Warn("mongodb: webhook append slow", "events", len(recs), "took", took, "err", err)
		}
		if err != nil {
			err = fmt.Errorf("mongodb: append events: %w", err)
		}
		for _, p := range batch {
			p.done <- err
		}
	}
}

// appendRecords writes recs: markers (each record's seq, claimed for
// good), sends, events. A record whose seq holds an event already (a void
// Repair-by-read wrote while this node stalled past SettleWithin) goes
// round again with a new seq.
func (s *Store) appendRecords(ctx context.Context, recs []*webhook.Record) error {
	h := s.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	live, err := s.liveEndpoints(ctx, recs)
	if err != nil {
		return err
	}
	now := ms(s.now())
	for range allocRounds {
		if len(recs) == 0 {
			return nil
		}
		seqs, err := s.allocate(ctx, len(recs), now)
		if err != nil {
			return err
		}
		var sends, events []any
		for i, r := range recs {
			r.Event.Seq = seqs[i]
			ev := &r.Event
			events = append(events, hookEventDoc{ID: seqKey(ev.Seq), Seq: ev.Seq, EventID: ev.ID, Type: string(ev.Type),
				Time: ms(ev.Time), Account: ev.Account, MessageID: ev.MessageID, Key: ev.Key, Body: ev.Body, Commit: ev.Commit})
			for _, ep := range r.Targets {
				if live[ep] {
					sends = append(sends, hookSendDoc{ID: hookSendID(ep, ev.Seq), Endpoint: ep, Seq: ev.Seq,
						Key: ev.Key, Time: ms(ev.Time), Next: ms(ev.Time)})
				}
			}
		}
		// Sends first: an event is never visible without them (a crash in
		// between leaves sends whose event never comes; readers void it).
		if len(sends) > 0 {
			if _, err := insertClaims(ctx, h.sends, sends); err != nil {
				return fmt.Errorf("sends: %w", err)
			}
		}
		// Unordered: a reader of the feed waits at the first missing seq
		// anyway, and one taken seq must not hold back the rest.
		taken, err := insertClaims(ctx, h.events, events)
		if err != nil {
			return fmt.Errorf("events: %w", err) // readers void them after SettleWithin
		}
		var again []*webhook.Record
		for i, r := range recs {
			if taken[i] {
				again = append(again, r)
			}
		}
		recs = again
	}
	return errors.New("no free seq after many rounds")
}

// liveEndpoints returns which of the records' targets still exist, so that
// no send is left for a deleted endpoint.
func (s *Store) liveEndpoints(ctx context.Context, recs []*webhook.Record) (map[string]bool, error) {
	var ids []string
	for _, r := range recs {
		for _, ep := range r.Targets {
			if !slices.Contains(ids, ep) {
				ids = append(ids, ep)
			}
		}
	}
	live := make(map[string]bool, len(ids))
	found := make([]bool, len(ids))
	err := each(len(ids), func(i int) error {
		err := s.hooks.endpoints.FindOne(ctx, bson.M{"_id": ids[i]}).Err()
		found[i] = err == nil
		return notFound(err, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	for i, id := range ids {
		live[id] = found[i]
	}
	return live, nil
}

func isDupCode(code int) bool { return code == 11000 || code == 11001 }

// allocFresh is how long this node trusts its own idea of the head: past
// it, it looks again (another node may have appended far ahead, and
// retention may have purged past it, meanwhile).
const allocFresh = 10 * time.Second

// allocate takes n seqs for this node by inserting their markers: the next
// ones after the highest it knows taken. A marker is never deleted before
// its event is purged, so winning one means nobody ever had that seq: no
// other node's event can be there, or come there, to be sent to this
// node's targets.
func (s *Store) allocate(ctx context.Context, n int, now time.Time) ([]int64, error) {
	h := s.hooks
	if !h.probed || time.Since(h.allocated) > allocFresh {
		h.stale = true
	}
	var won []int64
	for range allocRounds {
		// Look for the head after a while without appending (others may
		// have moved it far, retention may have purged past it); while
		// appending, a seq found taken only moves this node on past it: a
		// search costs a read per step, a taken marker one failed insert.
		if h.stale {
			tail, err := s.hookTail(ctx)
			if err != nil {
				return nil, err
			}
			free, err := s.firstFree(ctx, max(h.head, tail)+1)
			if err != nil {
				return nil, err
			}
			h.head, h.stale, h.probed = free-1, false, true
		}
		free := h.head + 1
		need := n - len(won)
		docs := make([]any, need)
		for i := range docs {
			docs[i] = bson.M{"_id": seqKey(free + int64(i)), "t": now}
		}
		dup, err := insertClaims(ctx, h.marks, docs)
		if err != nil {
			return nil, fmt.Errorf("markers: %w", err)
		}
		for i := range docs {
			if !dup[i] {
				won = append(won, free+int64(i))
			}
		}
		h.head = free + int64(need) - 1
		if len(won) == n {
			h.allocated = time.Now()
			return won, nil
		}
	}
	return nil, errors.New("markers: no free seq after many rounds")
}

// firstFree returns the first seq from from on without a marker, looking
// ahead in growing steps, then halving back: markers are taken one after
// another, so the taken ones from from on are a run.
func (s *Store) firstFree(ctx context.Context, from int64) (int64, error) {
	taken := func(seq int64) (bool, error) {
		err := s.hooks.marks.FindOne(ctx, bson.M{"_id": seqKey(seq)}).Err()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return false, nil
		}
		return err == nil, err
	}
	ok, err := taken(from)
	if err != nil || !ok {
		return from, err
	}
	lo, step := from, int64(1) // lo is taken
	for {
		ok, err := taken(lo + step)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo += step
		step *= 2
	}
	hi := lo + step // free
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := taken(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}

// hookTail is the highest seq purged (0: none).
func (s *Store) hookTail(ctx context.Context) (int64, error) {
	var d struct {
		Seq int64 `bson:"seq"`
	}
	err := s.hooks.meta.FindOne(ctx, bson.M{"_id": "tail"}).Decode(&d)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return 0, fmt.Errorf("tail: %w", err)
	}
	return d.Seq, nil
}

// Repair removes old claims. The holes a crash leaves (a seq marked, its
// event never written) are voided by whoever reads there (hole): the
// feed, a claimant of the hole's sends, the purge.
func (s *Store) Repair(ctx context.Context, now time.Time) error {
	// Claims of sends long finished or given up.
	if _, err := s.hooks.claims.DeleteMany(ctx, bson.M{"until": bson.M{"$lt": ms(now.Add(-time.Hour))}}); err != nil {
		return fmt.Errorf("mongodb: repair claims: %w", err)
	}
	return nil
}

// hole decides a seq without an event: "end" if nobody has it (the end of
// the log), "wait" while its append may be in flight, and "void" once it
// cannot be (SettleWithin after its marker): a void event then fills it,
// unless the event came after all ("again": read it).
func (s *Store) hole(ctx context.Context, seq int64, now time.Time) (string, error) {
	var m struct {
		Time time.Time `bson:"t"`
	}
	err := s.hooks.marks.FindOne(ctx, bson.M{"_id": seqKey(seq)}).Decode(&m)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "end", nil
	}
	if err != nil {
		return "", err
	}
	if now.Sub(m.Time) < webhook.SettleWithin {
		return "wait", nil
	}
	_, err = s.hooks.events.InsertOne(ctx, hookEventDoc{ID: seqKey(seq), Seq: seq, Time: m.Time, Void: true})
	if isDup(err) {
		return "again", nil
	}
	if err != nil {
		return "", err
	}
	return "void", nil
}
