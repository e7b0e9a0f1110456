// Package dns is the resolver everything in sendpool looks DNS up through.
// Tests and the sandbox point it at a loopback server; production at the
// configured servers or /etc/resolv.conf.
package dns

import (
	"context"
	"errors"
	"net/netip"
)

// MX is one mail exchanger.
type MX struct {
	Host string // without the trailing dot
	Pref uint16
}

// Error is a lookup failure. Permanent failures (NXDOMAIN, null MX) bounce
// mail at once; others are retried.
type Error struct {
	Name      string
	Permanent bool
	Msg       string
	// NotFound is set when the name does not exist (NXDOMAIN) or has no
	// record of the asked type (NODATA): for a DNSBL, "not listed".
	NotFound bool
}

func (e *Error) Error() string { return "dns: " + e.Name + ": " + e.Msg }

// ErrNullMX is returned for a domain that publishes a null MX (RFC 7505):
// it accepts no mail.
var ErrNullMX = errors.New("dns: domain accepts no mail (null MX)")

// IsPermanent reports whether err is a permanent DNS failure.
func IsPermanent(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Permanent
	}
	return errors.Is(err, ErrNullMX)
}

// IsNotFound reports whether err says the name or record does not exist
// (NXDOMAIN or NODATA), as opposed to a failure to find out.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.NotFound
}

// Resolver looks up what sendpool needs.
type Resolver interface {
	// LookupMX returns a domain's mail exchangers in preference order
	// (RFC 5321 §5.1): with no MX record but an address record, the domain
	// itself as the only exchanger; a null MX gives ErrNullMX.
	LookupMX(ctx context.Context, domain string) ([]MX, error)
	// LookupIP returns a host's IPv4 and IPv6 addresses.
	LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
	// LookupTXT returns a name's TXT records, each one's strings joined.
	LookupTXT(ctx context.Context, name string) ([]string, error)
}
