package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"sendpool/internal/suppression"
)

// The suppression.Store half: one document per account and address key,
// _id "account key" (an account name holds no space), so that intake's
// lookup of each recipient is one read by _id. A put replaces the document
// whole (an upsert), which FerretDB does on one document without a
// transaction.

var _ suppression.Store = (*Store)(nil)

type suppressionDoc struct {
	ID        string    `bson:"_id"`
	Account   string    `bson:"account"`
	Address   string    `bson:"address"`
	Reason    string    `bson:"reason"`
	Reply     string    `bson:"reply"`
	MessageID string    `bson:"message_id"`
	Created   time.Time `bson:"created"`
	// Expires is absent for an entry that never expires, so that the
	// purge's range on it never matches one.
	Expires *time.Time `bson:"expires,omitempty"`
}

func suppressionID(account, address string) string {
	return account + " " + suppression.Key(address)
}

// putRetries bounds the upserts of one put: two nodes upserting one new
// _id at once may see a duplicate key error, after which the document
// exists and a retry replaces it.
const putRetries = 3

// PutSuppression stores e, replacing the account's entry for the same key.
func (s *Store) PutSuppression(ctx context.Context, e *suppression.Entry) error {
	d := suppressionDoc{
		ID: suppressionID(e.Account, e.Address), Account: e.Account, Address: e.Address, Reason: e.Reason,
		Reply: e.Reply, MessageID: e.MessageID, Created: ms(e.Created),
	}
	if !e.Expires.IsZero() {
		x := ms(e.Expires)
		d.Expires = &x
	}
	var err error
	for range putRetries {
		_, err = s.suppressions.ReplaceOne(ctx, bson.M{"_id": d.ID}, d, options.Replace().SetUpsert(true))
		if err == nil || !isDup(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("mongodb: put suppression %s %s: %w", e.Account, e.Address, err)
	}
	return nil
}

// GetSuppression returns the account's entry for address;
// suppression.ErrNotFound if there is none.
func (s *Store) GetSuppression(ctx context.Context, account, address string) (*suppression.Entry, error) {
	var d suppressionDoc
	err := s.suppressions.FindOne(ctx, bson.M{"_id": suppressionID(account, address)}).Decode(&d)
	if err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil, suppression.ErrNotFound
		}
		return nil, fmt.Errorf("mongodb: get suppression %s %s: %w", account, address, err)
	}
	return d.entry(), nil
}

// ListSuppressions returns the account's entries, newest first, at most
// limit (0: all).
func (s *Store) ListSuppressions(ctx context.Context, account string, limit int) ([]*suppression.Entry, error) {
	o := options.Find().SetSort(bson.D{{Key: "created", Value: -1}, {Key: "_id", Value: 1}})
	if limit > 0 {
		o.SetLimit(int64(limit))
	}
	cur, err := s.suppressions.Find(ctx, bson.M{"account": account}, o)
	if err != nil {
		return nil, fmt.Errorf("mongodb: list suppressions %s: %w", account, err)
	}
	var docs []suppressionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongodb: list suppressions %s: %w", account, err)
	}
	out := make([]*suppression.Entry, 0, len(docs))
	for i := range docs {
		out = append(out, docs[i].entry())
	}
	return out, nil
}

// DeleteSuppression removes the account's entry for address;
// suppression.ErrNotFound if there is none.
func (s *Store) DeleteSuppression(ctx context.Context, account, address string) error {
	res, err := s.suppressions.DeleteOne(ctx, bson.M{"_id": suppressionID(account, address)})
	if err != nil {
		return fmt.Errorf("mongodb: delete suppression %s %s: %w", account, address, err)
	}
	if res.DeletedCount == 0 {
		return suppression.ErrNotFound
	}
	return nil
}

// PurgeSuppressions deletes up to limit entries that expired before
// before: it finds their ids by the index on expires, then deletes those
// still expired (a node may have renewed one meanwhile).
func (s *Store) PurgeSuppressions(ctx context.Context, before time.Time, limit int) (int, error) {
	expired := bson.M{"expires": bson.M{"$lt": ms(before)}}
	cur, err := s.suppressions.Find(ctx, expired, options.Find().
		SetSort(bson.D{{Key: "expires", Value: 1}}).SetLimit(int64(limit)).SetProjection(bson.M{"_id": 1}))
	if err != nil {
		return 0, fmt.Errorf("mongodb: purge suppressions: %w", err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return 0, fmt.Errorf("mongodb: purge suppressions: %w", err)
	}
	if len(docs) == 0 {
		return 0, nil
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	res, err := s.suppressions.DeleteMany(ctx, bson.M{"_id": bson.M{"$in": ids}, "expires": expired["expires"]})
	if err != nil {
		return 0, fmt.Errorf("mongodb: purge suppressions: %w", err)
	}
	return int(res.DeletedCount), nil
}

func (d *suppressionDoc) entry() *suppression.Entry {
	e := &suppression.Entry{
		Account: d.Account, Address: d.Address, Reason: d.Reason, Reply: d.Reply, MessageID: d.MessageID,
		Created: local(d.Created),
	}
	if d.Expires != nil {
		e.Expires = local(*d.Expires)
	}
	return e
}
