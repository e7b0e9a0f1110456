// Package dnsbl looks IP addresses up on DNS blocklists (RFC 5782): the
// address's octets reversed (nibbles for IPv6) under the list's zone, an A
// query whose 127.0.0.0/8 answer means "listed", and the TXT record at the
// same name for why.
package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"sendpool/internal/dns"
)

// Result is one address on one list.
type Result struct {
	Zone   string
	Listed bool
	// Codes are the A answers of a listing: the list's return codes, e.g.
	// 127.0.0.2 (Spamhaus SBL) or 127.0.0.4 (XBL).
	Codes []netip.Addr
	// Reason is the TXT record of a listing, or a description of it when
	// the list publishes none.
	Reason string
}

// ErrRefused is a list that answered with an error code instead of a
// listing: Spamhaus's 127.255.255.252–255 (a query through a public
// resolver, a typo in the zone, over the free limit).
var ErrRefused = errors.New("dnsbl: query refused by the list")

// Name is the query name of ip under zone (RFC 5782 §2.1, §2.4): for
// 192.0.2.99 and zen.spamhaus.org, 99.2.0.192.zen.spamhaus.org.
func Name(ip netip.Addr, zone string) string {
	ip = ip.Unmap()
	zone = strings.TrimSuffix(zone, ".")
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		for i := 3; i >= 0; i-- {
			b.WriteString(strconv.Itoa(int(a[i])))
			b.WriteByte('.')
		}
	} else {
		a := ip.As16()
		const hex = "0123456789abcdef"
		for i := 15; i >= 0; i-- {
			b.WriteByte(hex[a[i]&0xf])
			b.WriteByte('.')
			b.WriteByte(hex[a[i]>>4])
			b.WriteByte('.')
		}
	}
	b.WriteString(zone)
	return b.String()
}

// Lookup asks zone about ip through r. A name that does not exist means not
// listed; any other lookup failure is an error, since it tells nothing.
func Lookup(ctx context.Context, r dns.Resolver, zone string, ip netip.Addr) (Result, error) {
	res := Result{Zone: zone}
	name := Name(ip, zone)
	addrs, err := r.LookupIP(ctx, name)
	if dns.IsNotFound(err) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	for _, a := range addrs {
		a = a.Unmap()
		if !a.Is4() {
			continue // LookupIP asks AAAA too; RFC 5782 lists answer A
		}
		b := a.As4()
		switch {
		case b[0] != 127:
			// RFC 5782 §2.3: answers are in 127.0.0.0/8. Anything else is a
			// wildcard or a hijacking resolver, not a listing.
			return res, fmt.Errorf("dnsbl: %s answered %s, not a 127.0.0.0/8 code", name, a)
		case b[1] == 255 && b[2] == 255:
			return res, fmt.Errorf("%w: %s answered %s", ErrRefused, name, a)
		}
		res.Codes = append(res.Codes, a)
	}
	if len(res.Codes) == 0 {
		return res, nil
	}
	res.Listed = true
	// RFC 5782 §2.1: the TXT record at the same name says why. Its absence
	// or failure does not undo the listing.
	if txt, err := r.LookupTXT(ctx, name); err == nil && len(txt) > 0 {
		res.Reason = strings.Join(txt, "; ")
	} else {
		codes := make([]string, len(res.Codes))
		for i, c := range res.Codes {
			codes[i] = c.String()
		}
		res.Reason = "listed (" + strings.Join(codes, ", ") + ")"
	}
	return res, nil
}
