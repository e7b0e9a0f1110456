package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"sendpool/internal/queue"
)

// purgeMessages is how many messages one round of Purge reads and deletes:
// each round is a handful of $in deletes over that many message ids.
const purgeMessages = 500

// finalStatuses are those of a delivery that is done with.
var finalStatuses = bson.A{queue.StatusDelivered, queue.StatusBounced}

// Purge deletes up to limit messages that became final before before, with
// their deliveries (live and done), claims and chunks, and returns how
// many. A message whose summary says final is checked against its live
// deliveries too: one still queued, deferred, held or leased keeps it.
//
// Final is for good (no change applies to a final delivery), so what was
// checked stays true while the deletes run. Like Delete, the message
// document goes last: a Purge cut short leaves it, still final and old, for
// the next one. Several nodes purging at once delete the same documents;
// each counts only the message documents it deleted itself, so the counts
// add up to the messages purged.
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	total := 0
	for total < limit {
		want := min(limit-total, purgeMessages)
		ids, err := s.purgeCandidates(ctx, before, want)
		if err != nil {
			return total, fmt.Errorf("mongodb: purge: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		ids, err = s.withoutLiveWork(ctx, ids)
		if err != nil {
			return total, fmt.Errorf("mongodb: purge: %w", err)
		}
		n := 0
		if len(ids) > 0 {
			if n, err = s.purge(ctx, ids); err != nil {
				return total, fmt.Errorf("mongodb: purge: %w", err)
			}
		}
		total += n
		if n < want {
			// The last ones, or another node purging the same: either way
			// the next sweep finds what is left.
			break
		}
	}
	return total, nil
}

// purgeCandidates reads up to want ids of final messages finished before
// before. A message finished before this store kept Finished has none; its
// creation stands in (at most delivery.max_queue_time earlier).
func (s *Store) purgeCandidates(ctx context.Context, before time.Time, want int) ([]string, error) {
	b := ms(before)
	cur, err := s.messages.Find(ctx, bson.M{
		"status": bson.M{"$in": finalStatuses},
		"$or": bson.A{
			bson.M{"finished": bson.M{"$lt": b}},
			bson.M{"finished": bson.M{"$exists": false}, "created": bson.M{"$lt": b}},
		},
	}, options.Find().SetLimit(int64(want)).SetProjection(bson.M{"_id": 1}))
	if err != nil {
		return nil, err
	}
	var docs []messageDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, nil
}

// withoutLiveWork drops from ids the messages that still have a delivery
// that is not final in the deliveries collection (where only unfinished
// work and finished copies cut short on their way to done live).
func (s *Store) withoutLiveWork(ctx context.Context, ids []string) ([]string, error) {
	cur, err := s.deliveries.Find(ctx, bson.M{"m": bson.M{"$in": ids}, "status": bson.M{"$nin": finalStatuses}},
		options.Find().SetProjection(bson.M{"m": 1}))
	if err != nil {
		return nil, err
	}
	var live []deliveryDoc
	if err := cur.All(ctx, &live); err != nil {
		return nil, err
	}
	if len(live) == 0 {
		return ids, nil
	}
	busy := map[string]bool{}
	for _, d := range live {
		busy[d.MessageID] = true
		s.log.Warn("mongodb: purge: final message with unfinished delivery", "message", d.MessageID, "delivery", d.ID)
	}
	out := ids[:0]
	for _, id := range ids {
		if !busy[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// purge deletes everything of ids, message documents last, and returns how
// many message documents it deleted.
func (s *Store) purge(ctx context.Context, ids []string) (int, error) {
	of := bson.M{"m": bson.M{"$in": ids}}
	for _, c := range []*mongo.Collection{s.chunks, s.claims, s.done, s.deliveries} {
		if err := deleteMany(ctx, c, of); err != nil {
			return 0, fmt.Errorf("%s: %w", c.Name(), err)
		}
	}
	res, err := s.messages.DeleteMany(ctx, bson.M{"_id": bson.M{"$in": ids}, "status": bson.M{"$in": finalStatuses}})
	if err != nil {
		return 0, fmt.Errorf("messages: %w", err)
	}
	return int(res.DeletedCount), nil
}
