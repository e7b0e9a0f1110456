package dnspub

import (
	"context"
	"fmt"
	"strings"

	mdns "github.com/miekg/dns"

	"sendpool/internal/dnsrec"
)

// Backend changes the records of one zone. Values are TXT values with their
// strings joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2) or a CNAME's target
// without the final dot; names are without the final dot.
type Backend interface {
	// Lookup returns the values at name of type typ on the zone's
	// primary (none when there are none).
	Lookup(ctx context.Context, name, typ string) ([]string, error)
	// Replace makes the values at name of type typ exactly values (none:
	// the set is deleted). was is what Lookup said: a backend that can
	// refuses the change when the set no longer holds it (RFC 2136 §2.4),
	// so a change made meanwhile by someone else is never overwritten.
	Replace(ctx context.Context, name, typ string, was, values []string) error
}

// ttl of the records sendpool publishes.
const ttl = dnsrec.ZoneTTL

// rr builds one record in miekg/dns's form.
func rr(name, typ, value string, ttl uint32) (mdns.RR, error) {
	h := mdns.RR_Header{Name: mdns.Fqdn(name), Class: mdns.ClassINET, Ttl: ttl}
	switch typ {
	case "TXT":
		h.Rrtype = mdns.TypeTXT
		return &mdns.TXT{Hdr: h, Txt: dnsrec.SplitTXT(value)}, nil
	case "CNAME":
		h.Rrtype = mdns.TypeCNAME
		return &mdns.CNAME{Hdr: h, Target: mdns.Fqdn(value)}, nil
	}
	return nil, fmt.Errorf("dnspub: record type %q", typ)
}

// value is a record's value as Backend speaks it.
func value(r mdns.RR) (string, bool) {
	switch r := r.(type) {
	case *mdns.TXT:
		return strings.Join(r.Txt, ""), true
	case *mdns.CNAME:
		return strings.TrimSuffix(r.Target, "."), true
	case *mdns.NS:
		return strings.TrimSuffix(r.Ns, "."), true
	}
	return "", false
}

// qtype is typ's number.
func qtype(typ string) (uint16, error) {
	switch typ {
	case "TXT":
		return mdns.TypeTXT, nil
	case "CNAME":
		return mdns.TypeCNAME, nil
	case "NS":
		return mdns.TypeNS, nil
	}
	return 0, fmt.Errorf("dnspub: record type %q", typ)
}

// query asks server for name's records of type typ, over TCP (a TXT set of
// long DKIM keys rarely fits UDP), with the RD bit off: an authoritative
// server answers from its zone.
func query(ctx context.Context, server, name, typ string) ([]string, error) {
	t, err := qtype(typ)
	if err != nil {
		return nil, err
	}
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), t)
	m.RecursionDesired = typ == "NS" // the NS question goes to a recursive server
	c := &mdns.Client{Net: "tcp"}
	resp, _, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		return nil, fmt.Errorf("dnspub: ask %s for %s %s: %w", server, name, typ, err)
	}
	switch resp.Rcode {
	case mdns.RcodeSuccess, mdns.RcodeNameError:
	default:
		return nil, fmt.Errorf("dnspub: %s answered %s for %s %s", server, mdns.RcodeToString[resp.Rcode], name, typ)
	}
	var out []string
	for _, a := range resp.Answer {
		if a.Header().Rrtype != t || !strings.EqualFold(a.Header().Name, mdns.Fqdn(name)) {
			continue
		}
		if v, ok := value(a); ok {
			out = append(out, v)
		}
	}
	return out, nil
}
