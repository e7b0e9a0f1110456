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
		err := s.appendRecords(ctx, recs)
		cancel()
		if err != nil {
			err = fmt.Errorf("mongodb: append events: %w", err)
		}
		for _, p := range batch {
			p.done <- err
		}
	}
}

// appendRecords writes recs: markers (seqs), sends, events, then removes
// the markers. Records whose seq turns out taken (Repair voided it while
// this node stalled) go round again with new seqs.
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
		if len(sends) > 0 {
			if _, err := insertClaims(ctx, h.sends, sends); err != nil {
				return fmt.Errorf("sends: %w", err)
			}
		}
		// Unordered: a reader of the feed waits at the first missing seq
		// anyway, and one taken seq must not hold back the rest.
		taken, err := insertClaims(ctx, h.events, events)
		if err != nil {
			return fmt.Errorf("events: %w", err) // the markers stay: Repair sorts them out
		}
		marks := make([]any, len(seqs))
		for i, seq := range seqs {
			marks[i] = seqKey(seq)
		}
		if _, err := h.marks.DeleteMany(ctx, bson.M{"_id": bson.M{"$in": marks}}); err != nil {
			return fmt.Errorf("markers: %w", err)
		}
		// A seq found taken was voided by Repair while this node stalled
		// past SettleWithin: its record goes round again with a new one
		// (the sends written under the old seq go when a claimant finds
		// the event void).
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

// allocate takes n seqs for this node by inserting their markers: the next
// free ones after the highest known taken. Seqs others hold are skipped.
func (s *Store) allocate(ctx context.Context, n int, now time.Time) ([]int64, error) {
	h := s.hooks
	if !h.probed {
		tail, err := s.hookTail(ctx)
		if err != nil {
			return nil, err
		}
		h.head = tail
		h.probed = true
	}
	var won []int64
	for range allocRounds {
		// Skip what other nodes have written since.
		free, err := s.firstFree(ctx, h.head+1)
		if err != nil {
			return nil, err
		}
		h.head = free - 1
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
			return won, nil
		}
	}
	return nil, errors.New("markers: no free seq after many rounds")
}

// firstFree returns the first seq from from on without an event, looking
// ahead in growing steps, then halving back (a binary search over the
// range where events were written contiguously).
func (s *Store) firstFree(ctx context.Context, from int64) (int64, error) {
	taken := func(seq int64) (bool, error) {
		err := s.hooks.events.FindOne(ctx, bson.M{"_id": seqKey(seq)}).Err()
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

// Repair fills the seq of each marker older than SettleWithin whose event
// never came with a void event, and removes the markers and old claims.
func (s *Store) Repair(ctx context.Context, now time.Time) error {
	h := s.hooks
	cur, err := h.marks.Find(ctx, bson.M{"t": bson.M{"$lt": ms(now.Add(-webhook.SettleWithin))}})
	if err != nil {
		return fmt.Errorf("mongodb: repair: %w", err)
	}
	var marks []struct {
		ID   string    `bson:"_id"`
		Time time.Time `bson:"t"`
	}
	if err := cur.All(ctx, &marks); err != nil {
		return fmt.Errorf("mongodb: repair: %w", err)
	}
	for _, m := range marks {
		var seq int64
		if _, err := fmt.Sscan(m.ID, &seq); err != nil {
			continue
		}
		_, err := h.events.InsertOne(ctx, hookEventDoc{ID: m.ID, Seq: seq, Time: m.Time, Void: true})
		if err != nil && !isDup(err) {
			return fmt.Errorf("mongodb: repair %s: %w", m.ID, err)
		}
		if _, err := h.marks.DeleteOne(ctx, bson.M{"_id": m.ID}); err != nil {
			return fmt.Errorf("mongodb: repair %s: %w", m.ID, err)
		}
	}
	// Claims of sends long finished or given up.
	if _, err := h.claims.DeleteMany(ctx, bson.M{"until": bson.M{"$lt": ms(now.Add(-time.Hour))}}); err != nil {
		return fmt.Errorf("mongodb: repair claims: %w", err)
	}
	// Events whose message never came and that nobody read.
	return s.voidUnsettled(ctx, now)
}

// voidUnsettled voids events still waiting for a message after
// SettleWithin, walking back from the head a little: such events are
// recent, as their messages are.
func (s *Store) voidUnsettled(ctx context.Context, now time.Time) error {
	s.hooks.mu.Lock()
	head := s.hooks.head
	s.hooks.mu.Unlock()
	from := max(head-1000, 1)
	docs, err := s.readEvents(ctx, from, head)
	if err != nil {
		return err
	}
	for _, d := range docs {
		if d != nil && d.Commit != "" {
			if _, err := s.settleEvent(ctx, d, now); err != nil {
				return err
			}
		}
	}
	return nil
}
