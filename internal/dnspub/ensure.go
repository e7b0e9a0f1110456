package dnspub

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"sendpool/internal/dnsrec"
	"sendpool/internal/domain"
)

// ensure publishes r unless the zone already has it, and returns owned
// with what sendpool now owns of it.
func (p *Publisher) ensure(ctx context.Context, z *Zone, r dnsrec.Record, owned []domain.Published) ([]domain.Published, error) {
	vals, err := z.Backend.Lookup(ctx, r.Name, r.Type)
	if err != nil {
		return owned, err
	}
	i := find(owned, r.Type, r.Name)
	own := func(v string, merged bool) []domain.Published {
		o := domain.Published{Type: r.Type, Name: r.Name, Value: v, Merged: merged, Publisher: z.Publisher()}
		if i >= 0 {
			owned[i] = o
			return owned
		}
		return append(owned, o)
	}
	switch r.Purpose {
	case dnsrec.PurposeSPF:
		return p.ensureSPF(ctx, z, r, vals, owned, i, own)
	case dnsrec.PurposeDMARC, dnsrec.PurposeReturnPath:
		// Published only where the name has none: a policy or a target
		// the customer chose is theirs (and a CNAME owns its name).
		has := len(vals) > 0
		if r.Purpose == dnsrec.PurposeDMARC {
			has = slices.ContainsFunc(vals, func(v string) bool { return strings.HasPrefix(strings.ToLower(v), "v=dmarc1") })
		}
		if has {
			return owned, nil
		}
		if i < 0 && r.Purpose == dnsrec.PurposeReturnPath {
			if txt, err := z.Backend.Lookup(ctx, r.Name, "TXT"); err != nil || len(txt) > 0 {
				return owned, err // other data at the name: no CNAME (RFC 1034 §3.6.2)
			}
		}
		if err := z.Backend.Replace(ctx, r.Name, r.Type, vals, append(slices.Clone(vals), r.Value)); err != nil {
			return owned, err
		}
		p.published(ctx, z, r)
		return own(r.Value, false), nil
	default:
		// A DKIM selector's name is sendpool's own (it chose the selector):
		// exactly one record there (RFC 6376 §3.6.2.2).
		if len(vals) == 1 && vals[0] == r.Value {
			return own(r.Value, false), nil
		}
		if err := z.Backend.Replace(ctx, r.Name, r.Type, vals, []string{r.Value}); err != nil {
			return owned, err
		}
		p.published(ctx, z, r)
		return own(r.Value, false), nil
	}
}

// ensureSPF publishes the domain's SPF record, or merges its terms into
// the one already there: a second SPF record would make SPF fail for every
// receiver (RFC 7208 §3.2, §4.5).
func (p *Publisher) ensureSPF(ctx context.Context, z *Zone, r dnsrec.Record, vals []string, owned []domain.Published,
	i int, own func(string, bool) []domain.Published) ([]domain.Published, error) {
	var spfs []string
	var others []string
	for _, v := range vals {
		if isSPF(v) {
			spfs = append(spfs, v)
		} else {
			others = append(others, v)
		}
	}
	terms := spfTerms(r.Value)
	if len(spfs) > 1 {
		return owned, fmt.Errorf("%d SPF records at %s: receivers fail them all (RFC 7208 §3.2); merge them into one", len(spfs), r.Name)
	}
	if len(spfs) == 0 {
		if err := z.Backend.Replace(ctx, r.Name, "TXT", vals, append(others, r.Value)); err != nil {
			return owned, err
		}
		p.published(ctx, z, r)
		return own(r.Value, false), nil
	}
	cur := spfs[0]
	if i >= 0 && !owned[i].Merged {
		// Our own record: it follows the configuration (spf_mode, the pool).
		if cur == r.Value {
			return owned, nil
		}
		if cur != owned[i].Value {
			return owned, fmt.Errorf("the SPF record at %s was changed by hand; sendpool leaves it", r.Name)
		}
		if err := z.Backend.Replace(ctx, r.Name, "TXT", vals, append(others, r.Value)); err != nil {
			return owned, err
		}
		p.published(ctx, z, r)
		return own(r.Value, false), nil
	}
	var had []string // the terms merged before
	if i >= 0 {
		had = strings.Fields(owned[i].Value)
	}
	if hasTerms(cur, terms) && (i < 0 || slices.Equal(had, terms)) {
		return owned, nil // the customer authorised us already, or we did
	}
	base := unmergeSPF(cur, had)
	var added []string
	for _, t := range terms {
		if !hasTerms(base, []string{t}) {
			added = append(added, t)
		}
	}
	next := mergeSPF(base, terms)
	if err := z.Backend.Replace(ctx, r.Name, "TXT", vals, append(others, next)); err != nil {
		return owned, err
	}
	p.log.InfoContext(ctx, "dnspub: SPF merged", "name", r.Name, "zone", z.Name, "terms", strings.Join(added, " "))
	if len(added) == 0 {
		return slices.Delete(owned, i, i+1), nil
	}
	return own(strings.Join(added, " "), true), nil
}

func (p *Publisher) published(ctx context.Context, z *Zone, r dnsrec.Record) {
	p.log.InfoContext(ctx, "dnspub: record published", "zone", z.Name, "type", r.Type, "name", r.Name, "purpose", r.Purpose)
}

// remove deletes what sendpool owns at o's name: its record, or its terms
// of a merged SPF record. Records others added at the name stay.
func (p *Publisher) remove(ctx context.Context, z *Zone, o domain.Published) error {
	vals, err := z.Backend.Lookup(ctx, o.Name, o.Type)
	if err != nil {
		return err
	}
	var rest []string
	for _, v := range vals {
		switch {
		case o.Merged && isSPF(v):
			rest = append(rest, unmergeSPF(v, strings.Fields(o.Value)))
		case !o.Merged && v == o.Value:
		default:
			rest = append(rest, v)
		}
	}
	if slices.Equal(rest, vals) {
		return nil // gone already
	}
	return z.Backend.Replace(ctx, o.Name, o.Type, vals, rest)
}

// SyncService keeps sendpool's own SPF record (dkim.spf_host, listing the
// pool's addresses; chained records beyond one) as the pool is now, where
// that host is in a configured zone. The name is sendpool's: its SPF
// record is replaced, any other TXT record there stays.
func (p *Publisher) SyncService(ctx context.Context) error {
	var errs []error
	for _, r := range p.cfg.Records.ServiceRecords() {
		z := p.ZoneOf(r.Name)
		if z == nil {
			continue
		}
		vals, err := z.Backend.Lookup(ctx, r.Name, "TXT")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var others, spfs []string
		for _, v := range vals {
			if isSPF(v) {
				spfs = append(spfs, v)
			} else {
				others = append(others, v)
			}
		}
		if len(spfs) == 1 && spfs[0] == r.Value {
			continue
		}
		if err := z.Backend.Replace(ctx, r.Name, "TXT", vals, append(others, r.Value)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Name, err))
			continue
		}
		p.log.InfoContext(ctx, "dnspub: service SPF record updated", "name", r.Name, "value", r.Value)
	}
	if len(errs) > 0 {
		return fmt.Errorf("dnspub: service SPF: %w", joinErrs(errs))
	}
	return nil
}
