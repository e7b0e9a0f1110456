package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"sendpool/internal/queue"
)

// HoldAccount holds every queued or deferred delivery of the account's
// messages. Like Hold, each is a new generation, so a worker delivering one
// of them has its Report refused and cannot undo the hold.
func (s *Store) HoldAccount(ctx context.Context, account string) (int, error) {
	n, err := s.changeAccount(ctx, account, holdable, hold)
	if err != nil {
		return n, fmt.Errorf("mongodb: hold account %s: %w", account, err)
	}
	return n, nil
}

// ReleaseAccount makes the held deliveries of the account's messages due
// now: queued if never tried, deferred otherwise. Deliveries held one by
// one (queue hold ID) are released too, as in the SQLite store.
func (s *Store) ReleaseAccount(ctx context.Context, account string) (int, error) {
	n, err := s.changeAccount(ctx, account, held, s.release)
	if err != nil {
		return n, fmt.Errorf("mongodb: release account %s: %w", account, err)
	}
	return n, nil
}

// changeAccount applies update to the deliveries that match of every
// unfinished message of account, and counts them.
func (s *Store) changeAccount(ctx context.Context, account string, match func(*deliveryDoc) bool, update func(*deliveryDoc) bson.M) (int, error) {
	cur, err := s.messages.Find(ctx, bson.M{"account": account,
		"status": bson.M{"$nin": bson.A{queue.StatusDelivered, queue.StatusBounced}}},
		options.Find().SetProjection(bson.M{"_id": 1, "rcpts": 1}))
	if err != nil {
		return 0, err
	}
	var ms []messageDoc
	if err := cur.All(ctx, &ms); err != nil {
		return 0, err
	}
	total := 0
	for _, m := range ms {
		n, err := s.changeMessage(ctx, m.ID, m.Rcpts, match, update)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
