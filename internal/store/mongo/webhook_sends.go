package mongo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"sendpool/internal/webhook"
)

// feedScan bounds how many seqs one Feed call looks at per event asked
// for, when filtering by account.
const feedScan = 10

// purgePage is how many events PurgeEvents reads first.
const purgePage = 8

// readEvents reads the events of seqs from..to by _id, in order; nil for a
// seq without one.
func (s *Store) readEvents(ctx context.Context, from, to int64) ([]*hookEventDoc, error) {
	if to < from {
		return nil, nil
	}
	docs := make([]*hookEventDoc, to-from+1)
	err := each(len(docs), func(i int) error {
		var d hookEventDoc
		err := s.hooks.events.FindOne(ctx, bson.M{"_id": seqKey(from + int64(i))}).Decode(&d)
		if err == nil {
			docs[i] = &d
		}
		return notFound(err, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return docs, nil
}

// settleEvent decides an event written before its message's Put: "ok" once
// the message exists (the mark is cleared), "wait" while Put may still be
// in flight, "void" once it cannot be (the event is voided).
func (s *Store) settleEvent(ctx context.Context, d *hookEventDoc, now time.Time) (string, error) {
	err := s.messages.FindOne(ctx, bson.M{"_id": d.Commit}).Err()
	switch {
	case err == nil:
		_, err = s.hooks.events.UpdateOne(ctx, bson.M{"_id": d.ID}, bson.M{"$unset": bson.M{"c": ""}})
		d.Commit = ""
		return "ok", err
	case !errors.Is(err, mongo.ErrNoDocuments):
		return "", err
	case now.Sub(d.Time) < webhook.SettleWithin:
		return "wait", nil
	}
	_, err = s.hooks.events.UpdateOne(ctx, bson.M{"_id": d.ID}, bson.M{"$set": bson.M{"void": true}})
	d.Void = true
	return "void", err
}

// Feed reads the events after the cursor by _id, in order, stopping at
// the first seq without one (the end, or an append in flight: hole) or one
// waiting for its message.
func (s *Store) Feed(ctx context.Context, after int64, account string, limit int, now time.Time) ([]webhook.Event, int64, error) {
	out := []webhook.Event{}
	if limit <= 0 {
		return out, after, nil
	}
	tail, err := s.hookTail(ctx)
	if err != nil {
		return nil, after, fmt.Errorf("mongodb: feed: %w", err)
	}
	next := max(after, tail) // what retention took is gone
	budget := limit
	if account != "" {
		budget = limit * feedScan
	}
	for budget > 0 && len(out) < limit {
		n := int64(min(limit, budget))
		budget -= int(n)
		first := next + 1
		docs, err := s.readEvents(ctx, first, first+n-1)
		if err != nil {
			return nil, after, fmt.Errorf("mongodb: feed: %w", err)
		}
		for i, d := range docs {
			seq := first + int64(i)
			if d == nil {
				verdict, err := s.hole(ctx, seq, now)
				if err != nil {
					return nil, after, fmt.Errorf("mongodb: feed: %w", err)
				}
				if verdict != "void" {
					return out, next, nil // the end, an append in flight, or read it next time
				}
				next = seq
				continue
			}
			if d.Commit != "" && !d.Void {
				verdict, err := s.settleEvent(ctx, d, now)
				if err != nil {
					return nil, after, fmt.Errorf("mongodb: feed: %w", err)
				}
				if verdict == "wait" {
					return out, next, nil
				}
			}
			next = seq
			if d.Void || (account != "" && d.Account != account) {
				continue
			}
			out = append(out, d.event())
			if len(out) == limit {
				return out, next, nil
			}
		}
	}
	return out, next, nil
}

// Claim finds due sends of the endpoints with room, keeps those that head
// their key's line, reads their events and claims them one generation at
// a time (claims.go's pattern: a unique claim document per attempt).
func (s *Store) Claim(ctx context.Context, owner string, now time.Time, leaseFor time.Duration, room map[string]int) ([]webhook.Send, error) {
	var eps []string
	total := 0
	for ep, n := range room {
		if n > 0 {
			eps = append(eps, ep)
			total += n
		}
	}
	if total == 0 {
		return nil, nil
	}
	heads, err := s.dueHeads(ctx, eps, now, 2*total+16)
	if err != nil {
		return nil, fmt.Errorf("mongodb: claim sends: %w", err)
	}
	until := ms(now.Add(leaseFor))
	left := map[string]int{}
	for ep, n := range room {
		left[ep] = n
	}
	var out []webhook.Send
	for _, d := range heads {
		if left[d.Endpoint] == 0 {
			continue
		}
		ev, ok, err := s.sendable(ctx, d, now)
		if err != nil {
			return nil, fmt.Errorf("mongodb: claim sends: %w", err)
		}
		if !ok {
			continue
		}
		claim, won, err := s.claimSend(ctx, d, owner, now, until)
		if err != nil {
			return nil, fmt.Errorf("mongodb: claim sends: %w", err)
		}
		if !won {
			continue
		}
		left[d.Endpoint]--
		out = append(out, webhook.Send{ID: d.ID, Endpoint: d.Endpoint, Event: ev, Attempts: d.Attempts,
			Owner: owner, Until: until, Claim: claim})
	}
	return out, nil
}

// dueHeads returns due sends of eps, oldest first, that no earlier send of
// the same key to the same endpoint waits before.
func (s *Store) dueHeads(ctx context.Context, eps []string, now time.Time, limit int) ([]hookSendDoc, error) {
	cur, err := s.hooks.sends.Find(ctx, bson.M{"ep": bson.M{"$in": eps}, "next": bson.M{"$lte": ms(now)}},
		options.Find().SetLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	var cands []hookSendDoc
	if err := cur.All(ctx, &cands); err != nil {
		return nil, err
	}
	if len(cands) == 0 {
		return nil, nil
	}
	var keys []string
	for _, c := range cands {
		if !slices.Contains(keys, c.Key) {
			keys = append(keys, c.Key)
		}
	}
	cur, err = s.hooks.sends.Find(ctx, bson.M{"k": bson.M{"$in": keys}},
		options.Find().SetProjection(bson.M{"ep": 1, "k": 1, "s": 1}))
	if err != nil {
		return nil, err
	}
	var line []hookSendDoc
	if err := cur.All(ctx, &line); err != nil {
		return nil, err
	}
	first := map[[2]string]int64{}
	for _, l := range line {
		k := [2]string{l.Endpoint, l.Key}
		if f, ok := first[k]; !ok || l.Seq < f {
			first[k] = l.Seq
		}
	}
	heads := cands[:0]
	for _, c := range cands {
		if first[[2]string{c.Endpoint, c.Key}] == c.Seq {
			heads = append(heads, c)
		}
	}
	slices.SortFunc(heads, func(a, b hookSendDoc) int { return cmp.Compare(a.Seq, b.Seq) })
	return heads, nil
}

// sendable reads a send's event and says whether it may go now: not while
// its append is in flight or its message is not stored; a send whose event
// is void or gone is deleted.
func (s *Store) sendable(ctx context.Context, d hookSendDoc, now time.Time) (webhook.Event, bool, error) {
	var ev hookEventDoc
	err := s.hooks.events.FindOne(ctx, bson.M{"_id": seqKey(d.Seq)}).Decode(&ev)
	if errors.Is(err, mongo.ErrNoDocuments) {
		// In flight, or cut off by a crash (then voided here), or purged
		// (GiveUp takes its sends).
		verdict, err := s.hole(ctx, d.Seq, now)
		if err != nil || verdict != "void" {
			return webhook.Event{}, false, err
		}
		ev.Void = true
	} else if err != nil {
		return webhook.Event{}, false, err
	}
	if ev.Commit != "" && !ev.Void {
		verdict, err := s.settleEvent(ctx, &ev, now)
		if err != nil || verdict == "wait" {
			return webhook.Event{}, false, err
		}
	}
	if ev.Void {
		_, err := s.hooks.sends.DeleteOne(ctx, bson.M{"_id": d.ID})
		return webhook.Event{}, false, err
	}
	return ev.event(), true, nil
}

func hookClaimID(send string, attempts, try int) string {
	return fmt.Sprintf("%s#%d.%d", send, attempts, try)
}

// claimSend claims attempt d.Attempts of send d for owner until until. A
// claim taken by a claimant that is gone (expired) is stepped over with
// the next try number. The winner marks the send with the claim and moves
// its next attempt to the claim's end, so a claim whose node dies comes
// due again by itself.
func (s *Store) claimSend(ctx context.Context, d hookSendDoc, owner string, now, until time.Time) (string, bool, error) {
	h := s.hooks
	for try := range maxTries {
		id := hookClaimID(d.ID, d.Attempts, try)
		_, err := h.claims.InsertOne(ctx, bson.M{"_id": id, "until": until, "owner": owner})
		if err == nil {
			res, err := h.sends.UpdateOne(ctx, bson.M{"_id": d.ID},
				bson.M{"$set": bson.M{"owner": owner, "claim": id, "next": until}})
			if err != nil {
				return "", false, err
			}
			return id, res.MatchedCount == 1, nil
		}
		if !isDup(err) {
			return "", false, err
		}
		var c struct {
			Until time.Time `bson:"until"`
		}
		if err := h.claims.FindOne(ctx, bson.M{"_id": id}).Decode(&c); err != nil {
			return "", false, notFound(err, nil)
		}
		if now.Before(c.Until) {
			return "", false, nil // someone else's, in force
		}
	}
	return "", false, nil
}

// Finish records a claimed send's outcome if its claim is still the send's.
func (s *Store) Finish(ctx context.Context, snd *webhook.Send, o webhook.Outcome) error {
	h := s.hooks
	var d hookSendDoc
	err := h.sends.FindOne(ctx, bson.M{"_id": snd.ID}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && d.Claim != snd.Claim) {
		return webhook.ErrLeaseLost
	}
	if err != nil {
		return fmt.Errorf("mongodb: finish %s: %w", snd.ID, err)
	}
	if o.Done {
		_, err = h.sends.DeleteOne(ctx, bson.M{"_id": snd.ID})
	} else {
		_, err = h.sends.UpdateOne(ctx, bson.M{"_id": snd.ID}, bson.M{
			"$set": bson.M{"next": ms(o.Next), "owner": "", "claim": ""}, "$inc": bson.M{"n": 1}})
	}
	if err != nil {
		return fmt.Errorf("mongodb: finish %s: %w", snd.ID, err)
	}
	// The claim has served; one left behind goes with Repair.
	h.claims.DeleteOne(ctx, bson.M{"_id": snd.Claim})
	return nil
}

// Pending counts the sends not yet done.
func (s *Store) Pending(ctx context.Context) (int, error) {
	n, err := s.hooks.sends.CountDocuments(ctx, bson.M{})
	if err != nil {
		return 0, fmt.Errorf("mongodb: pending sends: %w", err)
	}
	return int(n), nil
}

// GiveUp removes up to limit sends of events older than before.
func (s *Store) GiveUp(ctx context.Context, before time.Time, limit int) (int, error) {
	cur, err := s.hooks.sends.Find(ctx, bson.M{"t": bson.M{"$lt": ms(before)}},
		options.Find().SetLimit(int64(limit)).SetProjection(bson.M{"_id": 1}))
	if err != nil {
		return 0, fmt.Errorf("mongodb: give up sends: %w", err)
	}
	var docs []hookSendDoc
	if err := cur.All(ctx, &docs); err != nil {
		return 0, fmt.Errorf("mongodb: give up sends: %w", err)
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	n, err := deleteByID(ctx, s.hooks.sends, ids)
	if err != nil {
		return n, fmt.Errorf("mongodb: give up sends: %w", err)
	}
	return n, nil
}

// deleteByID deletes documents by _id, a few to a command (maxUpdates).
func deleteByID(ctx context.Context, c *mongo.Collection, ids []string) (int, error) {
	n := 0
	for len(ids) > 0 {
		k := min(maxUpdates, len(ids))
		models := make([]mongo.WriteModel, k)
		for i, id := range ids[:k] {
			models[i] = mongo.NewDeleteOneModel().SetFilter(bson.M{"_id": id})
		}
		res, err := c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		if err != nil {
			return n, err
		}
		n += int(res.DeletedCount)
		ids = ids[k:]
	}
	return n, nil
}

// PurgeEvents walks from the tail deleting events older than before (and
// voids), with their markers, and moves the tail past them. It stops at
// the first newer event, and at a seq whose append is in flight. It reads
// in pages that double from purgePage: a log with nothing old, the usual
// case, costs a few reads rather than limit.
func (s *Store) PurgeEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	tail, err := s.hookTail(ctx)
	if err != nil {
		return 0, fmt.Errorf("mongodb: purge events: %w", err)
	}
	var ids []string
	last, purged := tail, 0
	for page := purgePage; last < tail+int64(limit); page *= 2 {
		from := last + 1
		docs, err := s.readEvents(ctx, from, min(last+int64(page), tail+int64(limit)))
		if err != nil {
			return 0, fmt.Errorf("mongodb: purge events: %w", err)
		}
		for i, d := range docs {
			seq := from + int64(i)
			if d == nil {
				verdict, err := s.hole(ctx, seq, s.now())
				if err != nil {
					return 0, fmt.Errorf("mongodb: purge events: %w", err)
				}
				if verdict != "void" {
					break // the end (or another node purging), or in flight
				}
			} else if !d.Void && !d.Time.Before(ms(before)) {
				break
			} else if !d.Void {
				purged++
			}
			ids = append(ids, seqKey(seq))
			last = seq
		}
		if last < from+int64(len(docs))-1 {
			break // stopped inside the page
		}
	}
	// Events first: a marker without its event would read as an append
	// cut short, and be voided again.
	if _, err := deleteByID(ctx, s.hooks.events, ids); err != nil {
		return 0, fmt.Errorf("mongodb: purge events: %w", err)
	}
	if last > tail {
		_, err := s.hooks.meta.UpdateOne(ctx, bson.M{"_id": "tail"}, bson.M{"$max": bson.M{"seq": last}},
			options.UpdateOne().SetUpsert(true))
		if err != nil {
			return purged, fmt.Errorf("mongodb: purge events: tail: %w", err)
		}
	}
	if _, err := deleteByID(ctx, s.hooks.marks, ids); err != nil {
		return purged, fmt.Errorf("mongodb: purge events: markers: %w", err)
	}
	return purged, nil
}
