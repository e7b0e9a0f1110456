package dns

import (
	"context"
	"encoding/hex"
	"net/netip"

	mdns "github.com/miekg/dns"
)

// The lookups DANE needs (RFC 7672 §2.1): each says whether its answer was
// secure, that is whether the validating resolver set the AD bit on every
// answer it took, CNAMEs included (RFC 4035 §3.2.3, RFC 6840 §5.7). Only a
// Client made with Options.DNSSEC ever says so; a plain one's answers are
// insecure. The AD bit is only as good as the path to the resolver: point
// dns.dnssec_resolver at a validating resolver on the same host or over a
// trusted network.

// TLSA is one TLSA record (RFC 6698 §2.1).
type TLSA struct {
	Usage        uint8
	Selector     uint8
	MatchingType uint8
	Data         []byte // the certificate association data
}

// LookupMXSecure is LookupMX, also saying whether the answer was secure
// (for an implicit MX, the domain's address records too).
func (c *Client) LookupMXSecure(ctx context.Context, domain string) ([]MX, bool, error) {
	return c.lookupMX(ctx, domain)
}

// LookupIPSecure is LookupIP, also saying whether the answers it used
// were secure.
func (c *Client) LookupIPSecure(ctx context.Context, host string) ([]netip.Addr, bool, error) {
	return c.lookupIP(ctx, host)
}

// LookupTLSA returns the TLSA records at name (e.g. "_25._tcp.mx.example"),
// and whether the answer was secure. None (NODATA) is no error; NXDOMAIN
// is a permanent *Error with NotFound set; anything else (SERVFAIL from a
// validating resolver for a bogus answer, a timeout) a temporary *Error.
func (c *Client) LookupTLSA(ctx context.Context, name string) ([]TLSA, bool, error) {
	fqdn, err := checkName(name)
	if err != nil {
		return nil, false, err
	}
	rrs, secure, err := c.recordsAD(ctx, name, fqdn, mdns.TypeTLSA)
	if err != nil {
		return nil, secure, err
	}
	out := make([]TLSA, 0, len(rrs))
	for _, rr := range rrs {
		t := rr.(*mdns.TLSA)
		data, err := hex.DecodeString(t.Certificate)
		if err != nil {
			// A record whose data is not hex cannot match anything: it is
			// kept with no data, so that the RRset is not taken as empty.
			data = nil
		}
		out = append(out, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
	}
	return out, secure, nil
}
