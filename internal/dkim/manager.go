package dkim

import (
	"bufio"
	"context"
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"sendpool/internal/dns"
	"sendpool/internal/domain"
	"sendpool/internal/spool"
)

// ErrRotationPending refuses a rotation while the last one's keys are still
// waiting to be seen in DNS.
var ErrRotationPending = errors.New("dkim: a rotation is already pending: publish its records first")

// TXTResolver looks up TXT records (dns.Resolver has it). The Manager
// should be given one that does not cache: a record just published must be
// seen at once.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Config is what a Manager needs.
type Config struct {
	Store    domain.Store
	Resolver TXTResolver
	// RetireAfter is how long a retired key's record must stay published
	// (dkim.retire_after): longer than mail signed with it can be queued.
	RetireAfter time.Duration
	// Algorithms are the key types that sign (dkim.algorithms); nil: all.
	// Keys of every type are still made, so that their records are
	// published and signing with them can be turned on later.
	Algorithms []domain.Algorithm
	Now        func() time.Time // nil: time.Now
	Logger     *slog.Logger     // nil: discard
}

// DefaultRetireAfter is the default of Config.RetireAfter (7 days).
const DefaultRetireAfter = 168 * time.Hour

// maxSigners bounds the cache of parsed private keys.
const maxSigners = 10000

// updateTries bounds how often an update is redone after ErrConflict.
const updateTries = 5

// Manager runs the keys of every domain: it makes them, rotates and
// activates them, and signs with them. It is safe for concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	signers map[string]crypto.Signer // public key → parsed private key
}

// New returns a Manager.
func New(cfg Config) *Manager {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RetireAfter <= 0 {
		cfg.RetireAfter = DefaultRetireAfter
	}
	return &Manager{cfg: cfg, log: cfg.Logger, signers: map[string]crypto.Signer{}}
}

// RetireAfter is the configured time a retired key's record stays.
func (m *Manager) RetireAfter() time.Duration { return m.cfg.RetireAfter }

// now is the clock at the stores' precision (milliseconds).
func (m *Manager) now() time.Time { return m.cfg.Now().UTC().Truncate(time.Millisecond) }

// Add makes domain name for account with a new RSA and Ed25519 key, both
// active at once: with no earlier key there is nothing to keep signing
// with, and a signature a receiver cannot check yet counts as none
// (RFC 6376 §6.1.2). domain.ErrExists if the name is taken.
func (m *Manager) Add(ctx context.Context, name, account string) (*domain.Domain, error) {
	now := m.now()
	d := &domain.Domain{Name: name, Account: account, Created: now}
	keys, err := newPair(d, domain.Active, now)
	if err != nil {
		return nil, err
	}
	d.Keys = keys
	if err := m.cfg.Store.CreateDomain(ctx, d); err != nil {
		return nil, err
	}
	m.log.InfoContext(ctx, "dkim: domain added", "domain", name, "account", account,
		"selectors", keys[0].Selector+","+keys[1].Selector)
	return d, nil
}

// Rotate gives the domain a new pending RSA and Ed25519 key. Mail keeps
// being signed with the active keys until each new key's record is seen
// in DNS (Activate).
func (m *Manager) Rotate(ctx context.Context, name string) (*domain.Domain, error) {
	return m.update(ctx, name, func(d *domain.Domain) error {
		if len(d.KeysIn(domain.Pending)) > 0 {
			return ErrRotationPending
		}
		keys, err := newPair(d, domain.Pending, m.now())
		if err != nil {
			return err
		}
		d.Keys = append(d.Keys, keys...)
		m.log.InfoContext(ctx, "dkim: rotation started", "domain", name,
			"selectors", keys[0].Selector+","+keys[1].Selector)
		return nil
	})
}

func newPair(d *domain.Domain, st domain.KeyState, now time.Time) ([]domain.Key, error) {
	var keys []domain.Key
	for _, alg := range []domain.Algorithm{domain.RSA, domain.Ed25519} {
		k, err := Generate(alg, Selector(d, alg, now), st, now)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// Activate looks up the records of the domain's pending keys and activates
// each key whose record is published as it should be; the active key of
// the same algorithm it replaces is retired. It returns the domain as it
// then is.
func (m *Manager) Activate(ctx context.Context, name string) (*domain.Domain, error) {
	d, err := m.cfg.Store.GetDomain(ctx, name)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, k := range d.KeysIn(domain.Pending) {
		txts, err := m.cfg.Resolver.LookupTXT(ctx, RecordName(k.Selector, d.Name))
		if err != nil && !dns.IsNotFound(err) {
			m.log.WarnContext(ctx, "dkim: key record lookup failed", "domain", d.Name, "selector", k.Selector, "err", err)
		}
		// RFC 6376 §3.6.2.2: more than one record at a selector is undefined;
		// receivers may take any, so activate only on exactly ours.
		if len(txts) == 1 && Matches(txts[0], k) {
			seen[k.Selector] = true
		}
	}
	if len(seen) == 0 {
		return d, nil
	}
	return m.update(ctx, name, func(d *domain.Domain) error {
		now := m.now()
		for i := range d.Keys {
			k := &d.Keys[i]
			if k.State != domain.Pending || !seen[k.Selector] {
				continue
			}
			for j := range d.Keys {
				if o := &d.Keys[j]; o.State == domain.Active && o.Algorithm == k.Algorithm {
					o.State, o.RetiredAt = domain.Retired, now
					m.log.InfoContext(ctx, "dkim: key retired", "domain", d.Name, "selector", o.Selector,
						"removable_at", now.Add(m.cfg.RetireAfter))
				}
			}
			k.State, k.ActivatedAt = domain.Active, now
			m.log.InfoContext(ctx, "dkim: key active", "domain", d.Name, "selector", k.Selector)
		}
		return nil
	})
}

// ActivateAll runs Activate for every domain with a pending key.
func (m *Manager) ActivateAll(ctx context.Context) error {
	ds, err := m.cfg.Store.ListDomains(ctx, "")
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range ds {
		if len(d.KeysIn(domain.Pending)) == 0 {
			continue
		}
		if _, err := m.Activate(ctx, d.Name); err != nil && !errors.Is(err, domain.ErrNotFound) {
			errs = append(errs, fmt.Errorf("%s: %w", d.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Run calls ActivateAll every interval until ctx ends. Every node may run
// it: activations are idempotent and guarded by the domain's version.
func (m *Manager) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.ActivateAll(ctx); err != nil && ctx.Err() == nil {
				m.log.WarnContext(ctx, "dkim: activation check", "err", err)
			}
		}
	}
}

// update reads the domain, applies fn and stores it, again from the read
// if another node changed it meanwhile.
func (m *Manager) update(ctx context.Context, name string, fn func(d *domain.Domain) error) (*domain.Domain, error) {
	for try := 1; ; try++ {
		d, err := m.cfg.Store.GetDomain(ctx, name)
		if err != nil {
			return nil, err
		}
		if err := fn(d); err != nil {
			return nil, err
		}
		err = m.cfg.Store.UpdateDomain(ctx, d)
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, domain.ErrConflict) || try == updateTries {
			return nil, err
		}
	}
}

// Signature is one DKIM-Signature Sign made: what the message's intake
// record keeps.
type Signature struct {
	Domain, Selector, Algorithm string // d=, s=, a=
}

// Sign signs msg with the keys of the domain of its From field, or of the
// nearest parent domain sendpool knows (relaxed alignment, RFC 7489 §3.1.1,
// holds for a subdomain), if that domain belongs to account: with its
// active key of each type in Config.Algorithms. It returns the message
// signed and the signatures it made; otherwise msg as it is, and none.
func (m *Manager) Sign(ctx context.Context, account string, msg []byte) ([]byte, []Signature, error) {
	fields, body := splitHeader(msg)
	d, keys, made, err := m.keysFor(ctx, account, fields)
	if err != nil {
		return nil, nil, err
	}
	if len(keys) == 0 {
		return msg, nil, nil
	}
	signed, err := sign(msg, fields, body, d, keys, m.cfg.Now())
	if err != nil {
		return nil, nil, err
	}
	return signed, made, nil
}

// SignReader is Sign for a message read from msg (a spooled one, issue
// 13): it returns only the DKIM-Signature fields to put on top of it, the
// body being hashed as it is read and never held.
func (m *Manager) SignReader(ctx context.Context, account string, msg io.Reader) ([]byte, []Signature, error) {
	br := bufio.NewReaderSize(msg, 64<<10)
	header, err := spool.ReadHeader(br)
	if err != nil {
		return nil, nil, fmt.Errorf("dkim: reading the message: %w", err)
	}
	fields, _ := splitHeader(header)
	d, keys, made, err := m.keysFor(ctx, account, fields)
	if err != nil || len(keys) == 0 {
		return nil, nil, err
	}
	bh := newBodyHash()
	if _, err := br.WriteTo(bh); err != nil {
		return nil, nil, fmt.Errorf("dkim: reading the message: %w", err)
	}
	sigs, err := signaturesOf(fields, base64.StdEncoding.EncodeToString(bh.Sum()), d, keys, m.cfg.Now(), 0)
	if err != nil {
		return nil, nil, err
	}
	return sigs, made, nil
}

// keysFor returns the domain to sign a message with these header fields
// as, with the keys and what each signature will be; no keys when it is
// not to be signed (no From:, an unknown domain or another account's).
func (m *Manager) keysFor(ctx context.Context, account string, fields []field) (string, []SigningKey, []Signature, error) {
	from := fromDomain(fields)
	if from == "" {
		return "", nil, nil, nil
	}
	d, err := m.signingDomain(ctx, from)
	if err != nil || d == nil {
		return "", nil, nil, err
	}
	if d.Account != account {
		m.log.InfoContext(ctx, "dkim: not signed: domain of another account", "domain", d.Name,
			"owner", d.Account, "account", account)
		return "", nil, nil, nil
	}
	var keys []SigningKey
	var made []Signature
	for _, k := range d.Signing() {
		if m.cfg.Algorithms != nil && !slices.Contains(m.cfg.Algorithms, k.Algorithm) {
			continue
		}
		s, err := m.signer(k)
		if err != nil {
			return "", nil, nil, err
		}
		keys = append(keys, SigningKey{Selector: k.Selector, Signer: s})
		made = append(made, Signature{Domain: d.Name, Selector: k.Selector, Algorithm: AlgorithmName(k.Algorithm)})
	}
	return d.Name, keys, made, nil
}

// signingDomain returns the known domain that is from or its nearest
// parent, or nil.
func (m *Manager) signingDomain(ctx context.Context, from string) (*domain.Domain, error) {
	for name := from; strings.Contains(name, "."); {
		d, err := m.cfg.Store.GetDomain(ctx, name)
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, domain.ErrNotFound) {
			return nil, err
		}
		_, name, _ = strings.Cut(name, ".")
	}
	return nil, nil
}

// signer returns k's parsed private key, parsing it once.
func (m *Manager) signer(k domain.Key) (crypto.Signer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.signers[k.PublicKey]; ok {
		return s, nil
	}
	s, err := ParsePrivateKey(k)
	if err != nil {
		return nil, err
	}
	if len(m.signers) >= maxSigners {
		clear(m.signers)
	}
	m.signers[k.PublicKey] = s
	return s, nil
}
