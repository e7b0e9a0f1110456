package dns

import (
	"context"

	mdns "github.com/miekg/dns"
)

// LookupCNAME returns the target of the CNAME record at name (RFC 1034
// §3.6.2), lower case and without the trailing dot; the alias itself, not
// the end of a chain. A name without a CNAME record (NXDOMAIN, or other
// records only) is a permanent *Error with NotFound set.
func (c *Client) LookupCNAME(ctx context.Context, name string) (string, error) {
	fqdn, err := checkName(name)
	if err != nil {
		return "", err
	}
	// Asking for the CNAME type itself, the answer holds the alias and a
	// server does not follow it (RFC 1034 §4.3.2 step 3a).
	rrs, err := c.records(ctx, name, fqdn, mdns.TypeCNAME)
	if err != nil {
		return "", err
	}
	if len(rrs) == 0 {
		return "", &Error{Name: name, Permanent: true, NotFound: true, Msg: "no CNAME record"}
	}
	return hostName(rrs[0].(*mdns.CNAME).Target), nil
}
