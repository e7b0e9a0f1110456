// Package mongo is the queue.Store and account.Store of many nodes: the
// queue in MongoDB (go.mongodb.org/mongo-driver/v2), shared by every node.
//
// It uses only what FerretDB, the test server, also does: single-document
// writes, unique indexes, find, bulk writes and $group. No transactions,
// change streams or TTL indexes. Two rules stand in for transactions:
//
//   - A message document is the commit record of Put: body chunks and
//     deliveries are written first, the message last, and Lease ignores a
//     delivery whose message does not exist (yet, or any more: Delete
//     removes the message first).
//   - A finished delivery (delivered or bounced) moves from deliveries to
//     done, so that the collection Lease looks in holds only live work.
//   - Every change to a delivery after Put starts a new generation, and a
//     generation is claimed by inserting a claim document whose _id names
//     the delivery and the generation (claims.go). The unique _id lets one
//     claimant through; only it then writes the delivery. Mutual exclusion
//     so rests on the unique key, which FerretDB enforces atomically, not on
//     findOneAndUpdate, which on FerretDB it is not.
package mongo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"sendpool/internal/account"
	"sendpool/internal/queue"
)

// Options configure a Store.
type Options struct {
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now; the clock of Put, Release, Retry, ReleaseOwner
	// Database overrides the database named in the URI's path ("sendpool"
	// if neither names one).
	Database string
	// ConnectTimeout bounds Open's first contact with the server and every
	// later server selection, so an unreachable server is an error, not a
	// hang. Default 5s.
	ConnectTimeout time.Duration
	// ChunkSize is the largest body stored inline in the message document;
	// a larger one is split into chunks of this size. Default 255 KiB (as
	// GridFS), well under the 16 MiB document limit.
	ChunkSize int
	// Monitor, if set, sees every command the store's client sends (tests
	// count them; cmd/sendpool sets none).
	Monitor *event.CommandMonitor
	// BodyCache is how many bytes of the bodies this node put last it
	// keeps in memory for their delivery (queue.RecentBodies); 0: none.
	BodyCache int64
}

// Store is the MongoDB queue.Store and account.Store.
type Store struct {
	log       *slog.Logger
	now       func() time.Time
	chunkSize int
	client    *mongo.Client
	db        *mongo.Database

	messages   *mongo.Collection // one per message, the commit record of Put
	deliveries *mongo.Collection // one per unfinished recipient, attempts inside
	done       *mongo.Collection // finished deliveries, moved out of deliveries
	claims     *mongo.Collection // unique (delivery, generation) claims
	chunks     *mongo.Collection // bodies over ChunkSize
	accounts   *mongo.Collection
	domains    *mongo.Collection // one document per version of a domain

	suppressions *mongo.Collection // suppressions.go
	recipients   *mongo.Collection // inbound.go
	hooks        *hooks            // webhooks.go

	puts    putQueue            // the Puts waiting for their round (commit.go)
	own     ownRounds           // the rounds this node committed lately (commit.go)
	reports reportQueue         // the ReportAll calls waiting for theirs (reportqueue.go)
	leased  leasedDocs          // the deliveries this node holds (leased.go)
	bodies  *queue.RecentBodies // the bodies this node put last (put.go)
}

var (
	_ queue.Store   = (*Store)(nil)
	_ account.Store = (*Store)(nil)
)

// Defaults.
const (
	DefaultDatabase       = "sendpool"
	DefaultConnectTimeout = 5 * time.Second
	DefaultChunkSize      = 255 << 10
)

// Open connects to the server at uri, checks that it answers within the
// connect timeout and creates the indexes. The driver reconnects by itself
// after the server goes away and comes back; calls in between fail.
func Open(ctx context.Context, uri string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	timeout := cmp.Or(opts.ConnectTimeout, DefaultConnectTimeout)
	dbName := opts.Database
	if dbName == "" {
		dbName = databaseFromURI(uri)
	}
	// No client-wide Timeout: with one, FerretDB fails some commands
	// (distinct). Every call takes its deadline from its ctx instead.
	co := options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(timeout).
		SetConnectTimeout(timeout).
		SetAppName("sendpool")
	if opts.Monitor != nil {
		co.SetMonitor(opts.Monitor)
	}
	client, err := mongo.Connect(co)
	if err != nil {
		return nil, fmt.Errorf("mongodb: %w", err)
	}
	s := &Store{
		log:       opts.Logger,
		now:       opts.Now,
		chunkSize: cmp.Or(opts.ChunkSize, DefaultChunkSize),
		bodies:    queue.NewRecentBodies(opts.BodyCache),
		client:    client,
		db:        client.Database(dbName),
	}
	s.messages = s.db.Collection("messages")
	s.deliveries = s.db.Collection("deliveries")
	s.done = s.db.Collection("done")
	s.claims = s.db.Collection("claims")
	s.chunks = s.db.Collection("chunks")
	s.accounts = s.db.Collection("accounts")
	s.domains = s.db.Collection("domains")
	s.suppressions = s.db.Collection("suppressions")
	s.recipients = s.db.Collection("recipients")
	s.hooks = newHooks(s.db)

	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := client.Ping(pctx, nil); err != nil {
		client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongodb: %s unreachable: %w", redact(uri), err)
	}
	ictx, cancel := context.WithTimeout(ctx, 2*timeout)
	defer cancel()
	if err := s.createIndexes(ictx); err != nil {
		client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongodb: indexes: %w", err)
	}
	s.log.Debug("mongodb store open", "database", dbName)
	return s, nil
}

// Close disconnects.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.client.Disconnect(ctx)
}

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error { return s.client.Ping(ctx, nil) }

// Drop removes the whole database (tests).
func (s *Store) Drop(ctx context.Context) error { return s.db.Drop(ctx) }

// createIndexes makes the indexes every query needs. Creating an index that
// exists is a no-op, so every start runs it. None is partial or TTL:
// FerretDB has neither.
func (s *Store) createIndexes(ctx context.Context) error {
	for _, x := range []struct {
		c    *mongo.Collection
		keys bson.D
	}{
		// Lease: due work by time. Status first so that final deliveries
		// are outside the range scanned.
		{s.deliveries, bson.D{{Key: "status", Value: 1}, {Key: "next", Value: 1}}},
		{s.deliveries, bson.D{{Key: "m", Value: 1}, {Key: "idx", Value: 1}}},
		{s.deliveries, bson.D{{Key: "owner", Value: 1}}},
		{s.done, bson.D{{Key: "m", Value: 1}, {Key: "idx", Value: 1}}},
		{s.messages, bson.D{{Key: "status", Value: 1}, {Key: "_id", Value: -1}}},
		{s.messages, bson.D{{Key: "account", Value: 1}, {Key: "_id", Value: -1}}},
		{s.messages, bson.D{{Key: "finished", Value: 1}}}, // Purge
		{s.claims, bson.D{{Key: "d", Value: 1}, {Key: "g", Value: 1}}},
		{s.claims, bson.D{{Key: "m", Value: 1}}},
		{s.chunks, bson.D{{Key: "m", Value: 1}, {Key: "n", Value: 1}}},
		{s.domains, bson.D{{Key: "name", Value: 1}, {Key: "version", Value: -1}}},
		{s.domains, bson.D{{Key: "account", Value: 1}}},
		{s.suppressions, bson.D{{Key: "account", Value: 1}, {Key: "created", Value: -1}}},
		{s.suppressions, bson.D{{Key: "expires", Value: 1}}},
		{s.recipients, bson.D{{Key: "account", Value: 1}, {Key: "address", Value: 1}}},
	} {
		if _, err := x.c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: x.keys}); err != nil {
			return fmt.Errorf("%s %v: %w", x.c.Name(), x.keys, err)
		}
	}
	return s.hookIndexes(ctx)
}

// databaseFromURI is the database named in a mongodb:// URI's path.
func databaseFromURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return DefaultDatabase
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		return db
	}
	return DefaultDatabase
}

// redact hides a password in a URI for error messages.
func redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "the server"
	}
	return u.Redacted()
}

// ms truncates a time to what BSON dates keep; the zero time stays zero.
func ms(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli())
}

// local gives a stored date back in local time, as the SQLite store does;
// BSON's zero date comes back as the zero time.
func local(t time.Time) time.Time {
	if t.IsZero() || t.UnixMilli() == (time.Time{}).UnixMilli() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli())
}

// notFound maps "no document" to err.
func notFound(got, err error) error {
	if errors.Is(got, mongo.ErrNoDocuments) {
		return err
	}
	return got
}
