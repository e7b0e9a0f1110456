package dnspub

import (
	"context"
	"fmt"
	"time"

	mdns "github.com/miekg/dns"
)

// RFC2136 publishes through DNS UPDATE (RFC 2136) to the zone's primary,
// signed with TSIG (RFC 8945).
type RFC2136 struct {
	Zone   string // without the final dot
	Server string // host:port of the primary
	// KeyName, Algorithm ("hmac-sha256") and Secret (base64) are the TSIG
	// key the primary allows updates with.
	KeyName, Algorithm, Secret string
}

var _ Backend = (*RFC2136)(nil)

// Lookup asks the primary itself: it has every update at once.
func (b *RFC2136) Lookup(ctx context.Context, name, typ string) ([]string, error) {
	return query(ctx, b.Server, name, typ)
}

// Replace sends one UPDATE that deletes the set and adds values, with the
// prerequisite that the set is exactly was (RFC 2136 §2.4.2, value
// dependent) or absent (§2.4.5): the server applies all of it or nothing.
func (b *RFC2136) Replace(ctx context.Context, name, typ string, was, values []string) error {
	t, err := qtype(typ)
	if err != nil {
		return err
	}
	m := new(mdns.Msg)
	m.SetUpdate(mdns.Fqdn(b.Zone))
	set := func(vs []string) ([]mdns.RR, error) {
		var out []mdns.RR
		for _, v := range vs {
			r, err := rr(name, typ, v, ttl)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	}
	old, err := set(was)
	if err != nil {
		return err
	}
	if len(old) > 0 {
		m.Used(old)
	} else {
		m.RRsetNotUsed([]mdns.RR{&mdns.ANY{Hdr: mdns.RR_Header{Name: mdns.Fqdn(name), Rrtype: t, Class: mdns.ClassINET}}})
	}
	m.RemoveRRset([]mdns.RR{&mdns.ANY{Hdr: mdns.RR_Header{Name: mdns.Fqdn(name), Rrtype: t, Class: mdns.ClassINET}}})
	add, err := set(values)
	if err != nil {
		return err
	}
	if len(add) > 0 {
		m.Insert(add)
	}
	key := mdns.Fqdn(b.KeyName)
	m.SetTsig(key, mdns.Fqdn(b.Algorithm), 300, time.Now().Unix())
	c := &mdns.Client{Net: "tcp", TsigSecret: map[string]string{key: b.Secret}}
	resp, _, err := c.ExchangeContext(ctx, m, b.Server)
	if err != nil {
		return fmt.Errorf("dnspub: update %s %s at %s: %w", name, typ, b.Server, err)
	}
	if resp.Rcode != mdns.RcodeSuccess {
		return fmt.Errorf("dnspub: update %s %s at %s: %s", name, typ, b.Server, mdns.RcodeToString[resp.Rcode])
	}
	return nil
}
