// Package dnspub publishes the records a customer's domain needs (SPF,
// DKIM, DMARC, the return path: internal/dnsrec) in the zones sendpool is
// allowed to change, through DNS UPDATE signed with TSIG (RFC 2136,
// RFC 8945) or PowerDNS's HTTP API. What it publishes it records with the
// domain (domain.Published), so that removing the domain deletes exactly
// that: an SPF record already there gets sendpool's terms merged in (one
// SPF record per name, RFC 7208 §3.2) and loses only them; a DMARC record
// already there is left alone. Domains outside every configured zone are
// not touched: their owners copy the records from the panel ("tell" mode).
//
// Publishing is idempotent and converges: Sync compares what the domain
// needs at a given time with the zone and the record of ownership, and
// changes only the difference. A Publisher's loop runs it for every domain,
// so failures are retried and key rotation needs no hand: the new key's
// records are published, signing switches once every authoritative server
// answers them (Authoritative), the old key is revoked (an empty p=,
// RFC 6376 §3.6.1) once it has been retired for dkim.retire_after, and its
// record is deleted revoke_for later.
package dnspub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"sendpool/internal/dkim"
	"sendpool/internal/dnsrec"
	"sendpool/internal/domain"
)

// PurposeDKIMRevoked is a retired key's record emptied (p=): receivers
// then fail its signatures (RFC 6376 §3.6.1) rather than trust a key that
// may have leaked.
const PurposeDKIMRevoked = "dkim-revoked"

// Zone is one zone sendpool may publish in.
type Zone struct {
	Name    string // without the final dot, lower case
	Backend Backend
	// Method names the backend for people: "rfc2136" or "pdns".
	Method string
	// Nameservers are the zone's authoritative servers (host:port) that
	// must all answer a new key before signing switches to it; empty: the
	// zone's NS records, at port 53.
	Nameservers []string
}

// Publisher is the name of the zone's publisher as shown to people.
func (z *Zone) Publisher() string { return z.Method + ":" + z.Name }

// Config is what a Publisher needs.
type Config struct {
	Zones   []Zone
	Store   domain.Store
	Records *dnsrec.Config
	// RetireAfter is dkim.retire_after: a retired key is revoked then.
	RetireAfter time.Duration
	// RevokeFor is how long a revoked key's empty record stays before it
	// is deleted.
	RevokeFor time.Duration
	// OnPublished is called after a sync of a domain with a pending key
	// published its records without error: the key manager's Activate,
	// which switches signing once every authoritative server answers.
	OnPublished func(ctx context.Context, name string)
	Now         func() time.Time // nil: time.Now
	Logger      *slog.Logger     // nil: discard
}

// Status is the last publishing attempt for a domain on this node.
type Status struct {
	At    time.Time
	Error string // "" when it went through
}

// Publisher publishes domains' records. Safe for concurrent use; several
// nodes may run one each (RFC 2136 updates carry prerequisites, so a
// change another node made meanwhile is refused and redone from a new
// read).
type Publisher struct {
	cfg  Config
	log  *slog.Logger
	kick chan string

	mu     sync.Mutex
	status map[string]Status
}

// New returns a Publisher.
func New(cfg Config) *Publisher {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for i := range cfg.Zones {
		cfg.Zones[i].Name = strings.ToLower(strings.TrimSuffix(cfg.Zones[i].Name, "."))
	}
	return &Publisher{cfg: cfg, log: cfg.Logger, kick: make(chan string, 64), status: map[string]Status{}}
}

// ZoneOf returns the configured zone name is in (the longest that
// matches), or nil.
func (p *Publisher) ZoneOf(name string) *Zone {
	if p == nil {
		return nil
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	var best *Zone
	for i := range p.cfg.Zones {
		z := &p.cfg.Zones[i]
		if (name == z.Name || strings.HasSuffix(name, "."+z.Name)) && (best == nil || len(z.Name) > len(best.Name)) {
			best = z
		}
	}
	return best
}

// Status returns the last attempt to publish domain name on this node.
func (p *Publisher) Status(name string) (Status, bool) {
	if p == nil {
		return Status{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.status[name]
	return s, ok
}

func (p *Publisher) setStatus(name string, err error) {
	s := Status{At: p.cfg.Now()}
	if err != nil {
		s.Error = err.Error()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status[name] = s
}

// Kick asks the loop to sync domain name soon; it never blocks.
func (p *Publisher) Kick(name string) {
	select {
	case p.kick <- name:
	default: // the next round syncs it anyway
	}
}

// Desired returns the records domain d needs in its zone at now: those
// dnsrec.Config lists for it (not sendpool's own SPF host, which
// SyncService keeps), and the revoked keys' empty records.
func (p *Publisher) Desired(d *domain.Domain, now time.Time) []dnsrec.Record {
	z := p.ZoneOf(d.Name)
	if z == nil {
		return nil
	}
	var out []dnsrec.Record
	for _, r := range p.cfg.Records.Records(d, now) {
		if r.Purpose != dnsrec.PurposeSPFService && p.ZoneOf(r.Name) == z {
			out = append(out, r)
		}
	}
	for _, k := range d.Keys {
		if k.Removable(now, p.cfg.RetireAfter) && now.Before(k.RemovableAt(p.cfg.RetireAfter).Add(p.cfg.RevokeFor)) {
			out = append(out, dnsrec.Record{Type: "TXT", Name: dkim.RecordName(k.Selector, d.Name),
				Value: "v=DKIM1; k=" + string(k.Algorithm) + "; p=", Purpose: PurposeDKIMRevoked,
				Note: "revoked DKIM key: deleted " + k.RemovableAt(p.cfg.RetireAfter).Add(p.cfg.RevokeFor).UTC().Format(time.RFC3339)})
		}
	}
	return out
}

// Sync brings domain name's records in its zone to what it needs now and
// stores what sendpool then owns. A domain outside every zone is left as
// it is. Errors are kept for Status too.
func (p *Publisher) Sync(ctx context.Context, name string) error {
	d, err := p.cfg.Store.GetDomain(ctx, name)
	if err != nil {
		return err
	}
	z := p.ZoneOf(d.Name)
	if z == nil {
		return nil
	}
	err = p.apply(ctx, d, z, p.Desired(d, p.cfg.Now()))
	p.setStatus(d.Name, err)
	if err != nil {
		p.log.WarnContext(ctx, "dnspub: publishing failed", "domain", d.Name, "zone", z.Name, "err", err)
		return err
	}
	if len(d.KeysIn(domain.Pending)) > 0 && p.cfg.OnPublished != nil {
		p.cfg.OnPublished(ctx, d.Name)
	}
	return nil
}

// Unpublish deletes from the zone what sendpool published for domain name
// and forgets it: the domain's removal. What the customer published stays.
func (p *Publisher) Unpublish(ctx context.Context, name string) error {
	d, err := p.cfg.Store.GetDomain(ctx, name)
	if err != nil {
		return err
	}
	z := p.ZoneOf(d.Name)
	if z == nil || len(d.Published) == 0 {
		return nil
	}
	return p.apply(ctx, d, z, nil)
}

// apply publishes want and removes what sendpool owns beyond it, then
// stores the ownership record if it changed.
func (p *Publisher) apply(ctx context.Context, d *domain.Domain, z *Zone, want []dnsrec.Record) error {
	owned := slices.Clone(d.Published)
	var errs []error
	for _, r := range want {
		var err error
		if owned, err = p.ensure(ctx, z, r, owned); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", r.Type, r.Name, err))
		}
	}
	kept := owned[:0:0]
	for _, o := range owned {
		if slices.ContainsFunc(want, func(r dnsrec.Record) bool { return r.Type == o.Type && r.Name == o.Name }) {
			kept = append(kept, o)
			continue
		}
		if err := p.remove(ctx, z, o); err != nil {
			errs = append(errs, fmt.Errorf("remove %s %s: %w", o.Type, o.Name, err))
			kept = append(kept, o)
			continue
		}
		p.log.InfoContext(ctx, "dnspub: record removed", "domain", d.Name, "type", o.Type, "name", o.Name, "merged", o.Merged)
	}
	if !slices.Equal(kept, d.Published) {
		if err := p.save(ctx, d.Name, kept); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// save stores the ownership record, again from a new read if the domain
// changed meanwhile (the Publisher is the only writer of Published).
func (p *Publisher) save(ctx context.Context, name string, owned []domain.Published) error {
	for range 5 {
		d, err := p.cfg.Store.GetDomain(ctx, name)
		if err != nil {
			return err
		}
		d.Published = owned
		err = p.cfg.Store.UpdateDomain(ctx, d)
		if !errors.Is(err, domain.ErrConflict) {
			return err
		}
	}
	return domain.ErrConflict
}

// find returns the index of owned's record of typ at name, or -1.
func find(owned []domain.Published, typ, name string) int {
	return slices.IndexFunc(owned, func(o domain.Published) bool { return o.Type == typ && o.Name == name })
}

// PublisherFor names the publisher of the zone name is in, "" outside
// every zone (its owner publishes its records).
func (p *Publisher) PublisherFor(name string) string {
	if z := p.ZoneOf(name); z != nil {
		return z.Publisher()
	}
	return ""
}

// LastError is the error of the last attempt to publish domain name on
// this node, "" if it went through or none was made.
func (p *Publisher) LastError(name string) string {
	s, _ := p.Status(name)
	return s.Error
}

// Mark sets each record's Published and Publisher from what d's
// ownership record says sendpool published.
func (p *Publisher) Mark(d *domain.Domain, recs []dnsrec.Record) {
	for i := range recs {
		r := &recs[i]
		r.Publisher = p.PublisherFor(r.Name)
		r.Published = slices.ContainsFunc(d.Published, func(o domain.Published) bool {
			return o.Type == r.Type && o.Name == r.Name && (o.Value == r.Value || o.Merged && r.Purpose == dnsrec.PurposeSPF)
		})
	}
}
