// Package domain holds the sending domains whose mail sendpool signs: each
// belongs to one account and carries its DKIM keys through their life
// (pending → active → retired). The Store keeps them for every node; the
// SQLite store and the MongoDB store implement it and pass domaintest.
//
// Private keys live only in the store and in the signer: the API never
// returns them.
package domain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"sendpool/internal/account"
)

// Errors of the store.
var (
	ErrNotFound = errors.New("domain: not found")
	ErrExists   = errors.New("domain: already exists")
	// ErrConflict: UpdateDomain was given a domain whose Version is no longer
	// the stored one (another node changed it since it was read). Read it
	// again and redo the change.
	ErrConflict = errors.New("domain: changed concurrently")
)

// Algorithm is a DKIM key type, as written in the k= tag of its record.
type Algorithm string

// Key types: RSA (RFC 6376 §3.3.1) and Ed25519 (RFC 8463).
const (
	RSA     Algorithm = "rsa"
	Ed25519 Algorithm = "ed25519"
)

// KeyState is where a key is in its life.
type KeyState string

// Key states. A pending key is published but not yet seen in DNS: nothing is
// signed with it. An active key signs. A retired key signs no more; its
// record stays published until mail signed with it can no longer be in
// transit, then it is reported removable.
const (
	Pending KeyState = "pending"
	Active  KeyState = "active"
	Retired KeyState = "retired"
)

// Key is one DKIM key pair of a domain.
type Key struct {
	Selector  string    `json:"selector"`
	Algorithm Algorithm `json:"algorithm"`
	// PrivateKey is the PKCS #8 PEM of the private key. Never serialised.
	PrivateKey string `json:"-"`
	// PublicKey is the record's p= value: base64 of the SubjectPublicKeyInfo
	// DER for RSA, of the raw 32 bytes for Ed25519 (RFC 8463 §4.2).
	PublicKey   string    `json:"public_key"`
	Created     time.Time `json:"created"`
	State       KeyState  `json:"state"`
	ActivatedAt time.Time `json:"activated_at"` // zero while pending
	RetiredAt   time.Time `json:"retired_at"`   // zero unless retired
}

// Domain is one sending domain.
type Domain struct {
	Name    string    `json:"domain"`
	Account string    `json:"account"`
	Created time.Time `json:"created"`
	Keys    []Key     `json:"keys"` // in the order they were made
	// Published are the DNS records sendpool itself put in a zone it
	// publishes to (internal/dnspub), so that removing the domain deletes
	// those and nothing the customer published.
	Published []Published `json:"published,omitempty"`
	// Version counts the domain's updates. UpdateDomain stores a domain only
	// if Version is still the stored one, and increments it: two nodes
	// rotating or activating keys at once cannot lose each other's change.
	Version int64 `json:"-"`
}

// Published is one record sendpool published for a domain.
type Published struct {
	Type string `json:"type"` // "TXT" or "CNAME"
	Name string `json:"name"` // owner name, without the final dot
	// Value is the record sendpool added; for a merged SPF record, the
	// terms it added to the record already there.
	Value string `json:"value"`
	// Merged: Value's terms went into a record sendpool did not create
	// (RFC 7208 §3.2: one SPF record per name), so only they are removed.
	Merged bool `json:"merged,omitempty"`
	// Publisher names where it went, e.g. "rfc2136:hosting.test".
	Publisher string `json:"publisher"`
}

// Store keeps domains durably. Names are stored as given (lower case, see
// Normalize); times at millisecond precision.
type Store interface {
	// CreateDomain stores a new domain with Version 1; ErrExists if taken.
	CreateDomain(ctx context.Context, d *Domain) error
	// GetDomain returns a domain; ErrNotFound if there is none.
	GetDomain(ctx context.Context, name string) (*Domain, error)
	// ListDomains returns the domains of account ("" for all), by name.
	ListDomains(ctx context.Context, account string) ([]*Domain, error)
	// UpdateDomain replaces a domain's account, keys and published records if its stored
	// Version is d.Version, then increments d.Version. ErrNotFound if it
	// is gone, ErrConflict if another update came first.
	UpdateDomain(ctx context.Context, d *Domain) error
	// DeleteDomain removes a domain and its keys; ErrNotFound if none.
	DeleteDomain(ctx context.Context, name string) error
}

// Normalize returns name in the form domains are stored under: lower case,
// without surrounding space or a trailing dot. It fails if that is not a
// domain name of two labels or more.
func Normalize(name string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	if !account.ValidDomain(n) {
		return "", fmt.Errorf("%q is not a domain name", name)
	}
	return n, nil
}

// Key returns the key with selector, if the domain has it.
func (d *Domain) Key(selector string) (*Key, bool) {
	for i := range d.Keys {
		if d.Keys[i].Selector == selector {
			return &d.Keys[i], true
		}
	}
	return nil, false
}

// KeysIn returns the domain's keys in state s.
func (d *Domain) KeysIn(s KeyState) []Key {
	var out []Key
	for _, k := range d.Keys {
		if k.State == s {
			out = append(out, k)
		}
	}
	return out
}

// Signing returns the keys mail is signed with: for each algorithm, the
// active key activated last. RSA comes first.
func (d *Domain) Signing() []Key {
	var out []Key
	for _, alg := range []Algorithm{RSA, Ed25519} {
		var best *Key
		for i, k := range d.Keys {
			if k.State != Active || k.Algorithm != alg {
				continue
			}
			if best == nil || !k.ActivatedAt.Before(best.ActivatedAt) {
				best = &d.Keys[i]
			}
		}
		if best != nil {
			out = append(out, *best)
		}
	}
	return out
}

// Removable reports whether a retired key's record may be deleted from DNS
// at now: retireAfter has passed since it was retired, so no message
// signed with it should still be in transit.
func (k *Key) Removable(now time.Time, retireAfter time.Duration) bool {
	return k.State == Retired && !now.Before(k.RemovableAt(retireAfter))
}

// RemovableAt is when a retired key becomes removable (zero otherwise).
func (k *Key) RemovableAt(retireAfter time.Duration) time.Time {
	if k.State != Retired {
		return time.Time{}
	}
	return k.RetiredAt.Add(retireAfter)
}

// Clone returns a deep copy of d.
func (d *Domain) Clone() *Domain {
	c := *d
	c.Keys = slices.Clone(d.Keys)
	c.Published = slices.Clone(d.Published)
	return &c
}
