package mongo

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"sendpool/internal/queue"
	"sendpool/internal/webhook"
)

// The webhook.Store half, without transactions and friendly to FerretDB,
// which looks documents up by index only by a string _id:
//
//   - hookevents is the outbox, one document per event, _id the event's seq
//     zero-padded (seqKey), so the feed reads it by _id alone. Seqs are
//     handed out by inserting a marker document with that _id into
//     hookmarks: the unique key lets one appender have each seq, for good
//     (a marker goes only when its event is purged). An appender takes the
//     next seqs after the highest it knows to be taken, so a seq is only
//     ever handed out once every lower one is: the feed can stop at the
//     first seq without an event knowing that nothing after it may appear
//     before it (a marker whose event is not there yet is an append in
//     flight).
//   - An Append writes the markers, then the sends (hooksends: one per
//     event and endpoint, deleted once done), then the events. A crash
//     leaves a marker without its event: whoever reads there after
//     SettleWithin (the feed, a claimant of its sends, the purge) fills the
//     seq with a void event, so the feed moves on and the sends go.
//   - A send is claimed like a delivery (claims.go): the claimant inserts
//     hookclaims "send#attempts.try"; the unique _id lets one through.
//   - hookmeta "tail" is the highest seq purged: the feed starts past it.

// hooks holds the collections and this node's view of the seqs.
type hooks struct {
	endpoints *mongo.Collection
	events    *mongo.Collection
	sends     *mongo.Collection
	marks     *mongo.Collection
	claims    *mongo.Collection
	meta      *mongo.Collection

	mu        sync.Mutex // one allocation at a time on this node
	head      int64      // the highest seq known taken
	probed    bool       // head has been looked for since start
	stale     bool       // head is to be looked for again
	allocated time.Time  // when this node last took seqs

	qmu      sync.Mutex // the appends waiting for the writer (group commit)
	queue    []*pendingAppend
	flushing bool
}

func newHooks(db *mongo.Database) *hooks {
	return &hooks{
		endpoints: db.Collection("hookendpoints"),
		events:    db.Collection("hookevents"),
		sends:     db.Collection("hooksends"),
		marks:     db.Collection("hookmarks"),
		claims:    db.Collection("hookclaims"),
		meta:      db.Collection("hookmeta"),
	}
}

var _ webhook.Store = (*Store)(nil)

// hookIndexes are the indexes MongoDB uses for the webhook queries
// (FerretDB scans; the collections it scans hold only pending work).
func (s *Store) hookIndexes(ctx context.Context) error {
	for _, x := range []struct {
		c    *mongo.Collection
		keys bson.D
	}{
		{s.hooks.sends, bson.D{{Key: "ep", Value: 1}, {Key: "next", Value: 1}}},
		{s.hooks.sends, bson.D{{Key: "k", Value: 1}}},
		{s.hooks.sends, bson.D{{Key: "t", Value: 1}}},
		{s.hooks.claims, bson.D{{Key: "until", Value: 1}}},
	} {
		if _, err := x.c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: x.keys}); err != nil {
			return fmt.Errorf("%s %v: %w", x.c.Name(), x.keys, err)
		}
	}
	return nil
}

// seqKey is an event's _id: its seq, zero-padded so that ids sort as seqs.
func seqKey(seq int64) string { return fmt.Sprintf("%020d", seq) }

// hookSendID is a send's _id.
func hookSendID(ep string, seq int64) string { return ep + "/" + seqKey(seq) }

type hookEndpointDoc struct {
	ID           string          `bson:"_id"`
	URL          string          `bson:"url"`
	Events       []string        `bson:"events"`
	Account      string          `bson:"account"`
	Secrets      []hookSecretDoc `bson:"secrets"`
	Created      time.Time       `bson:"created"`
	FailingSince time.Time       `bson:"failing_since"`
	Disabled     bool            `bson:"disabled"`
	DisabledAt   time.Time       `bson:"disabled_at"`
	Reason       string          `bson:"reason"`
}

type hookSecretDoc struct {
	Value   string    `bson:"v"`
	Expires time.Time `bson:"x"`
}

type hookEventDoc struct {
	ID        string    `bson:"_id"` // seqKey
	Seq       int64     `bson:"seq"`
	EventID   string    `bson:"id"`
	Type      string    `bson:"type"`
	Time      time.Time `bson:"t"`
	Account   string    `bson:"acct"`
	MessageID string    `bson:"m"`
	Key       string    `bson:"k"`
	Body      []byte    `bson:"body"`
	Commit    string    `bson:"c,omitempty"`
	// Void fills the seq of an append a crash cut short (Repair), or an
	// event whose message never came: the feed and the senders skip it.
	Void bool `bson:"void,omitempty"`
}

type hookSendDoc struct {
	ID       string    `bson:"_id"` // hookSendID
	Endpoint string    `bson:"ep"`
	Seq      int64     `bson:"s"`
	Key      string    `bson:"k"`
	Time     time.Time `bson:"t"` // the event's
	Attempts int       `bson:"n"`
	Next     time.Time `bson:"next"`
	Owner    string    `bson:"owner"`
	Claim    string    `bson:"claim"` // the hookclaims _id of the claim in force
}

func secretDocs(ss []webhook.Secret) []hookSecretDoc {
	out := make([]hookSecretDoc, len(ss))
	for i, x := range ss {
		out[i] = hookSecretDoc{Value: x.Value, Expires: ms(x.Expires)}
	}
	return out
}

func (d *hookEndpointDoc) endpoint() *webhook.Endpoint {
	e := &webhook.Endpoint{ID: d.ID, URL: d.URL, Account: d.Account, Created: local(d.Created),
		Health: webhook.Health{FailingSince: local(d.FailingSince), Disabled: d.Disabled,
			DisabledAt: local(d.DisabledAt), Reason: d.Reason}}
	for _, t := range d.Events {
		e.Events = append(e.Events, webhook.Type(t))
	}
	for _, x := range d.Secrets {
		e.Secrets = append(e.Secrets, webhook.Secret{Value: x.Value, Expires: local(x.Expires)})
	}
	return e
}

func (d *hookEventDoc) event() webhook.Event {
	return webhook.Event{Seq: d.Seq, ID: d.EventID, Type: webhook.Type(d.Type), Time: local(d.Time),
		Account: d.Account, MessageID: d.MessageID, Key: d.Key, Body: d.Body, Commit: d.Commit}
}

// HeaderMessageID returns a message's Message-ID header as intake
// recorded it, reading that field alone; "" for none, queue.ErrNotFound for
// no such message.
func (s *Store) HeaderMessageID(ctx context.Context, id string) (string, error) {
	var d struct {
		Intake struct {
			MsgID string `bson:"msgid"`
		} `bson:"intake"`
	}
	err := s.messages.FindOne(ctx, bson.M{"_id": id}, options.FindOne().SetProjection(bson.M{"intake.msgid": 1})).Decode(&d)
	if err != nil {
		return "", notFound(err, queue.ErrNotFound)
	}
	return d.Intake.MsgID, nil
}

// CreateEndpoint stores a new endpoint.
func (s *Store) CreateEndpoint(ctx context.Context, e *webhook.Endpoint) error {
	d := hookEndpointDoc{ID: e.ID, URL: e.URL, Account: e.Account, Secrets: secretDocs(e.Secrets),
		Created: ms(e.Created), FailingSince: ms(e.FailingSince), Disabled: e.Disabled,
		DisabledAt: ms(e.DisabledAt), Reason: e.Reason, Events: []string{}}
	for _, t := range e.Events {
		d.Events = append(d.Events, string(t))
	}
	if _, err := s.hooks.endpoints.InsertOne(ctx, d); err != nil {
		return fmt.Errorf("mongodb: create endpoint %s: %w", e.ID, err)
	}
	return nil
}

// GetEndpoint returns an endpoint; webhook.ErrNotFound if there is none.
func (s *Store) GetEndpoint(ctx context.Context, id string) (*webhook.Endpoint, error) {
	var d hookEndpointDoc
	if err := s.hooks.endpoints.FindOne(ctx, bson.M{"_id": id}).Decode(&d); err != nil {
		if err = notFound(err, webhook.ErrNotFound); err == webhook.ErrNotFound {
			return nil, err
		}
		return nil, fmt.Errorf("mongodb: get endpoint %s: %w", id, err)
	}
	return d.endpoint(), nil
}

// ListEndpoints returns every endpoint, oldest first.
func (s *Store) ListEndpoints(ctx context.Context) ([]*webhook.Endpoint, error) {
	cur, err := s.hooks.endpoints.Find(ctx, bson.M{},
		options.Find().SetSort(bson.D{{Key: "created", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongodb: list endpoints: %w", err)
	}
	var docs []hookEndpointDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongodb: list endpoints: %w", err)
	}
	out := make([]*webhook.Endpoint, len(docs))
	for i := range docs {
		out[i] = docs[i].endpoint()
	}
	return out, nil
}

// SetSecrets replaces an endpoint's secrets.
func (s *Store) SetSecrets(ctx context.Context, id string, secrets []webhook.Secret) error {
	return s.setEndpoint(ctx, id, bson.M{"secrets": secretDocs(secrets)})
}

// SetHealth replaces an endpoint's breaker state.
func (s *Store) SetHealth(ctx context.Context, id string, h webhook.Health) error {
	return s.setEndpoint(ctx, id, bson.M{"failing_since": ms(h.FailingSince), "disabled": h.Disabled,
		"disabled_at": ms(h.DisabledAt), "reason": h.Reason})
}

func (s *Store) setEndpoint(ctx context.Context, id string, set bson.M) error {
	res, err := s.hooks.endpoints.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$set": set})
	if err != nil {
		return fmt.Errorf("mongodb: endpoint %s: %w", id, err)
	}
	if res.MatchedCount == 0 {
		return webhook.ErrNotFound
	}
	return nil
}

// DeleteEndpoint removes an endpoint, then its sends.
func (s *Store) DeleteEndpoint(ctx context.Context, id string) error {
	res, err := s.hooks.endpoints.DeleteOne(ctx, bson.M{"_id": id})
	if err != nil {
		return fmt.Errorf("mongodb: delete endpoint %s: %w", id, err)
	}
	if res.DeletedCount == 0 {
		return webhook.ErrNotFound
	}
	// Sends an append adds meanwhile are never claimed (the endpoint is
	// not listed) and are given up with the rest (GiveUp).
	if _, err := s.hooks.sends.DeleteMany(ctx, bson.M{"ep": id}); err != nil {
		return fmt.Errorf("mongodb: delete endpoint %s: sends: %w", id, err)
	}
	return nil
}
