package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Probe writes node's document in the health collection (one per node,
// replaced by each probe): a server that is down, cannot elect a primary
// or refuses writes fails it within ctx.
func (s *Store) Probe(ctx context.Context, node string) error {
	_, err := s.db.Collection("health").ReplaceOne(ctx, bson.M{"_id": node},
		bson.M{"_id": node, "at": s.now()}, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("mongodb: probe: %w", err)
	}
	return nil
}
