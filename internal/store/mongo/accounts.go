package mongo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"sendpool/internal/account"
)

// The account.Store half: one document per account, _id the name.

type accountDoc struct {
	Name         string         `bson:"_id"`
	PasswordHash string         `bson:"password_hash"`
	Domains      []string       `bson:"domains"`
	Networks     []string       `bson:"networks"` // CIDRs
	Limits       account.Limits `bson:"limits"`   // every field, by its Go name in lower case
	Status       account.Status `bson:"status"`
	Reason       string         `bson:"reason"`
	Created      time.Time      `bson:"created"`
	ForeignFrom  []string       `bson:"foreign_from"`
	InboundHost  string         `bson:"inbound_host,omitempty"`
	Forwarding   bool           `bson:"forwarding,omitempty"`
}

// CreateAccount stores a new account; account.ErrExists if the name is
// taken. A zero Created is set to now.
func (s *Store) CreateAccount(ctx context.Context, a *account.Account) error {
	if a.Created.IsZero() {
		a.Created = s.now()
	}
	if err := s.checkDomains(ctx, a); err != nil {
		return err
	}
	if _, err := s.accounts.InsertOne(ctx, newAccountDoc(a)); err != nil {
		if isDup(err) {
			return account.ErrExists
		}
		return fmt.Errorf("mongodb: create account %s: %w", a.Name, err)
	}
	return nil
}

// GetAccount returns an account; account.ErrNotFound if there is none.
func (s *Store) GetAccount(ctx context.Context, name string) (*account.Account, error) {
	var d accountDoc
	if err := s.accounts.FindOne(ctx, bson.M{"_id": name}).Decode(&d); err != nil {
		if err = notFound(err, account.ErrNotFound); errors.Is(err, account.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("mongodb: get account %s: %w", name, err)
	}
	return d.account()
}

// ListAccounts returns every account, by name.
func (s *Store) ListAccounts(ctx context.Context) ([]*account.Account, error) {
	cur, err := s.accounts.Find(ctx, bson.M{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongodb: list accounts: %w", err)
	}
	var docs []accountDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongodb: list accounts: %w", err)
	}
	out := make([]*account.Account, 0, len(docs))
	for _, d := range docs {
		a, err := d.account()
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// UpdateAccount replaces every field of an existing account but its
// creation time; account.ErrNotFound if there is none.
func (s *Store) UpdateAccount(ctx context.Context, a *account.Account) error {
	if n, err := s.accounts.CountDocuments(ctx, bson.M{"_id": a.Name}); err != nil {
		return fmt.Errorf("mongodb: update account %s: %w", a.Name, err)
	} else if n == 0 {
		return account.ErrNotFound
	}
	if err := s.checkDomains(ctx, a); err != nil {
		return err
	}
	d := newAccountDoc(a)
	res, err := s.accounts.UpdateOne(ctx, bson.M{"_id": a.Name}, bson.M{"$set": bson.M{
		"password_hash": d.PasswordHash, "domains": d.Domains, "networks": d.Networks,
		"limits": d.Limits, "foreign_from": d.ForeignFrom,
		"inbound_host": d.InboundHost, "forwarding": d.Forwarding,
		"status": d.Status, "reason": d.Reason,
	}})
	if err != nil {
		return fmt.Errorf("mongodb: update account %s: %w", a.Name, err)
	}
	if res.MatchedCount == 0 {
		return account.ErrNotFound
	}
	return nil
}

// DeleteAccount removes an account; account.ErrNotFound if there is none.
// Its queued messages stay.
func (s *Store) DeleteAccount(ctx context.Context, name string) error {
	res, err := s.accounts.DeleteOne(ctx, bson.M{"_id": name})
	if err != nil {
		return fmt.Errorf("mongodb: delete account %s: %w", name, err)
	}
	if res.DeletedCount == 0 {
		return account.ErrNotFound
	}
	return nil
}

// checkDomains refuses a's domains when another account holds one of them
// (account.Taken). Without transactions (FerretDB has none) two admins
// giving one domain to two accounts at the same instant could both pass;
// the admin API is the only writer, and one admin at a time is the rule.
func (s *Store) checkDomains(ctx context.Context, a *account.Account) error {
	if len(a.Domains) == 0 {
		return nil
	}
	cur, err := s.accounts.Find(ctx, bson.M{"_id": bson.M{"$ne": a.Name}},
		options.Find().SetProjection(bson.M{"domains": 1}))
	if err != nil {
		return fmt.Errorf("mongodb: check domains of %s: %w", a.Name, err)
	}
	var docs []accountDoc
	if err := cur.All(ctx, &docs); err != nil {
		return fmt.Errorf("mongodb: check domains of %s: %w", a.Name, err)
	}
	others := make([]*account.Account, len(docs))
	for i, d := range docs {
		others[i] = &account.Account{Name: d.Name, Domains: d.Domains}
	}
	return account.Taken(a, others)
}

func newAccountDoc(a *account.Account) accountDoc {
	d := accountDoc{
		Name: a.Name, PasswordHash: a.PasswordHash, Domains: a.Domains, Networks: []string{},
		Limits: a.Limits, Status: a.Status, Reason: a.Reason, Created: ms(a.Created),
		ForeignFrom: a.ForeignFrom, InboundHost: a.InboundHost, Forwarding: a.Forwarding,
	}
	if d.ForeignFrom == nil {
		d.ForeignFrom = []string{}
	}
	if d.Domains == nil {
		d.Domains = []string{}
	}
	for _, p := range a.Networks {
		d.Networks = append(d.Networks, p.String())
	}
	return d
}

func (d *accountDoc) account() (*account.Account, error) {
	a := &account.Account{
		Name: d.Name, PasswordHash: d.PasswordHash, Domains: d.Domains,
		Limits: d.Limits, Status: d.Status, Reason: d.Reason, Created: local(d.Created),
		InboundHost: d.InboundHost, Forwarding: d.Forwarding,
	}
	if len(d.ForeignFrom) > 0 {
		a.ForeignFrom = d.ForeignFrom
	}
	if a.Domains == nil {
		a.Domains = []string{}
	}
	for _, s := range d.Networks {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("mongodb: account %s: network %q: %w", d.Name, s, err)
		}
		a.Networks = append(a.Networks, p)
	}
	return a, nil
}
