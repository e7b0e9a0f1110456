package mongo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"sendpool/internal/domain"
)

// The domain.Store half. Each version of a domain is a document of its own,
// _id "name#version": an update inserts the next version, so two nodes
// updating the same version race on a unique key, and only one insert gets
// through (FerretDB's conditional updates are not atomic; its unique keys
// are). The latest version is the domain; older ones are then removed.

var _ domain.Store = (*Store)(nil)

type domainDoc struct {
	ID      string    `bson:"_id"`
	Name    string    `bson:"name"`
	Version int64     `bson:"version"`
	Account string    `bson:"account"`
	Created time.Time `bson:"created"`
	Keys    []keyDoc  `bson:"keys"`
	// Published are the records sendpool published (domain.Published).
	Published []publishedDoc `bson:"published,omitempty"`
}

type publishedDoc struct {
	Type      string `bson:"type"`
	Name      string `bson:"name"`
	Value     string `bson:"value"`
	Merged    bool   `bson:"merged,omitempty"`
	Publisher string `bson:"publisher"`
}

type keyDoc struct {
	Selector    string    `bson:"selector"`
	Algorithm   string    `bson:"algorithm"`
	PrivateKey  string    `bson:"private_key"`
	PublicKey   string    `bson:"public_key"`
	Created     time.Time `bson:"created"`
	State       string    `bson:"state"`
	ActivatedAt time.Time `bson:"activated_at"`
	RetiredAt   time.Time `bson:"retired_at"`
}

func domainID(name string, version int64) string { return name + "#" + strconv.FormatInt(version, 10) }

// CreateDomain stores a new domain with Version 1; domain.ErrExists if the
// name is taken.
func (s *Store) CreateDomain(ctx context.Context, d *domain.Domain) error {
	if _, err := s.latestDomain(ctx, d.Name); err == nil {
		return domain.ErrExists
	} else if !errors.Is(err, domain.ErrNotFound) {
		return fmt.Errorf("mongodb: create domain %s: %w", d.Name, err)
	}
	if _, err := s.domains.InsertOne(ctx, newDomainDoc(d, 1)); err != nil {
		if isDup(err) {
			return domain.ErrExists
		}
		return fmt.Errorf("mongodb: create domain %s: %w", d.Name, err)
	}
	d.Version = 1
	return nil
}

// GetDomain returns a domain; domain.ErrNotFound if there is none.
func (s *Store) GetDomain(ctx context.Context, name string) (*domain.Domain, error) {
	doc, err := s.latestDomain(ctx, name)
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("mongodb: get domain %s: %w", name, err)
	}
	return doc.domain(), nil
}

// ListDomains returns the domains of account ("" for all), by name.
func (s *Store) ListDomains(ctx context.Context, account string) ([]*domain.Domain, error) {
	cur, err := s.domains.Find(ctx, bson.M{},
		options.Find().SetSort(bson.D{{Key: "name", Value: 1}, {Key: "version", Value: -1}}))
	if err != nil {
		return nil, fmt.Errorf("mongodb: list domains: %w", err)
	}
	var docs []domainDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongodb: list domains: %w", err)
	}
	out := []*domain.Domain{}
	for i, d := range docs {
		if i > 0 && docs[i-1].Name == d.Name {
			continue // an older version
		}
		if account == "" || d.Account == account {
			out = append(out, d.domain())
		}
	}
	return out, nil
}

// UpdateDomain stores d as the version after d.Version, if d.Version is
// the latest: domain.ErrNotFound if the domain is gone, ErrConflict if
// another update came first.
func (s *Store) UpdateDomain(ctx context.Context, d *domain.Domain) error {
	cur, err := s.latestDomain(ctx, d.Name)
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			return err
		}
		return fmt.Errorf("mongodb: update domain %s: %w", d.Name, err)
	}
	if cur.Version != d.Version {
		return domain.ErrConflict
	}
	next := newDomainDoc(d, d.Version+1)
	next.Created = cur.Created
	if _, err := s.domains.InsertOne(ctx, next); err != nil {
		if isDup(err) {
			return domain.ErrConflict
		}
		return fmt.Errorf("mongodb: update domain %s: %w", d.Name, err)
	}
	d.Version = next.Version
	// Best effort: a version left behind is never the latest again.
	if _, err := s.domains.DeleteMany(ctx, bson.M{"name": d.Name, "version": bson.M{"$lt": next.Version}}); err != nil {
		s.log.Warn("mongodb: dropping old domain versions", "domain", d.Name, "err", err)
	}
	return nil
}

// DeleteDomain removes a domain and its keys; domain.ErrNotFound if none.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	res, err := s.domains.DeleteMany(ctx, bson.M{"name": name})
	if err != nil {
		return fmt.Errorf("mongodb: delete domain %s: %w", name, err)
	}
	if res.DeletedCount == 0 {
		return domain.ErrNotFound
	}
	return nil
}

func (s *Store) latestDomain(ctx context.Context, name string) (*domainDoc, error) {
	var doc domainDoc
	err := s.domains.FindOne(ctx, bson.M{"name": name},
		options.FindOne().SetSort(bson.D{{Key: "version", Value: -1}})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, domain.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &doc, nil
}

func newDomainDoc(d *domain.Domain, version int64) domainDoc {
	doc := domainDoc{ID: domainID(d.Name, version), Name: d.Name, Version: version, Account: d.Account,
		Created: ms(d.Created), Keys: []keyDoc{}}
	for _, k := range d.Keys {
		doc.Keys = append(doc.Keys, keyDoc{
			Selector: k.Selector, Algorithm: string(k.Algorithm), PrivateKey: k.PrivateKey, PublicKey: k.PublicKey,
			Created: ms(k.Created), State: string(k.State), ActivatedAt: ms(k.ActivatedAt), RetiredAt: ms(k.RetiredAt),
		})
	}
	for _, p := range d.Published {
		doc.Published = append(doc.Published, publishedDoc(p))
	}
	return doc
}

func (doc *domainDoc) domain() *domain.Domain {
	d := &domain.Domain{Name: doc.Name, Account: doc.Account, Created: local(doc.Created), Version: doc.Version}
	for _, k := range doc.Keys {
		d.Keys = append(d.Keys, domain.Key{
			Selector: k.Selector, Algorithm: domain.Algorithm(k.Algorithm), PrivateKey: k.PrivateKey,
			PublicKey: k.PublicKey, Created: local(k.Created), State: domain.KeyState(k.State),
			ActivatedAt: local(k.ActivatedAt), RetiredAt: local(k.RetiredAt),
		})
	}
	for _, p := range doc.Published {
		d.Published = append(d.Published, domain.Published(p))
	}
	return d
}
