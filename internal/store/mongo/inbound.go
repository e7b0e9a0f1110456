package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"sendpool/internal/recipient"
)

// The recipient.Store half (SPEC §7, inbound.recipients = "list"): one
// document per account and address key, _id "account key" (an account
// name holds no space), so that the MX's check of a recipient is one read
// by _id. An add is an upsert of that one document.

var _ recipient.Store = (*Store)(nil)

type recipientDoc struct {
	ID      string    `bson:"_id"`
	Account string    `bson:"account"`
	Address string    `bson:"address"`
	Created time.Time `bson:"created"`
}

func recipientID(account, address string) string { return account + " " + recipient.Key(address) }

// AddRecipient implements recipient.Store.
func (s *Store) AddRecipient(ctx context.Context, account, address string) error {
	d := recipientDoc{ID: recipientID(account, address), Account: account, Address: recipient.Key(address), Created: ms(s.now())}
	var err error
	for range putRetries {
		_, err = s.recipients.UpdateOne(ctx, bson.M{"_id": d.ID}, bson.M{"$setOnInsert": d}, options.UpdateOne().SetUpsert(true))
		if err == nil || !isDup(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("mongodb: add recipient %s %s: %w", account, address, err)
	}
	return nil
}

// RemoveRecipient implements recipient.Store.
func (s *Store) RemoveRecipient(ctx context.Context, account, address string) error {
	res, err := s.recipients.DeleteOne(ctx, bson.M{"_id": recipientID(account, address)})
	if err != nil {
		return fmt.Errorf("mongodb: remove recipient %s %s: %w", account, address, err)
	}
	if res.DeletedCount == 0 {
		return recipient.ErrNotFound
	}
	return nil
}

// ListRecipients implements recipient.Store.
func (s *Store) ListRecipients(ctx context.Context, account string) ([]string, error) {
	cur, err := s.recipients.Find(ctx, bson.M{"account": account}, options.Find().SetSort(bson.D{{Key: "address", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongodb: list recipients %s: %w", account, err)
	}
	var docs []recipientDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongodb: list recipients %s: %w", account, err)
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.Address
	}
	return out, nil
}

// HasRecipient implements recipient.Store.
func (s *Store) HasRecipient(ctx context.Context, account, address string) (bool, error) {
	n, err := s.recipients.CountDocuments(ctx, bson.M{"_id": recipientID(account, address)}, options.Count().SetLimit(1))
	if err != nil {
		return false, fmt.Errorf("mongodb: has recipient %s %s: %w", account, address, err)
	}
	return n > 0, nil
}
