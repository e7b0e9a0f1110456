// Package dane is DANE for SMTP (RFC 7672): an MX host whose name and
// addresses are DNSSEC-signed publishes TLSA records (RFC 6698) at
// _25._tcp.HOST, and a sender must then reach it over TLS with a
// certificate those records match. Lookups go through a validating
// resolver whose AD bit is trusted (dns.dnssec_resolver); only a secure
// answer counts. Hosts of an unsigned zone have no DANE policy: the other
// policies (MTA-STS, opportunistic TLS) apply to them.
package dane

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"sendpool/internal/dns"
)

// The TLSA fields' values (RFC 6698 §2.1, names of RFC 7218).
const (
	UsagePKIXTA  = 0 // unusable for SMTP (RFC 7672 §3.1.3)
	UsagePKIXEE  = 1 // unusable for SMTP (RFC 7672 §3.1.3)
	UsageDANETA  = 2
	UsageDANEEE  = 3
	SelectorCert = 0
	SelectorSPKI = 1
	MatchFull    = 0
	MatchSHA256  = 1
	MatchSHA512  = 2
)

// The TLS-RPT result types (RFC 8460 §4.3.2.1) of a DANE failure.
const (
	ResultTLSAInvalid   = "tlsa-invalid"
	ResultDNSSECInvalid = "dnssec-invalid"
)

// Resolver is the validating resolver; *dns.Client made with
// dns.Options.DNSSEC implements it.
type Resolver interface {
	LookupMXSecure(ctx context.Context, domain string) ([]dns.MX, bool, error)
	LookupIPSecure(ctx context.Context, host string) ([]netip.Addr, bool, error)
	LookupTLSA(ctx context.Context, name string) ([]dns.TLSA, bool, error)
}

// Kind is what DANE asks of one MX host.
type Kind int

// The kinds of Host.
const (
	// None: no DANE policy (unsigned zone, no TLSA records); another
	// policy decides.
	None Kind = iota
	// Required: TLS with a certificate that one of Records matches.
	Required
	// Encrypt: TLS without authentication: the host published a secure
	// TLSA RRset none of whose records is usable (RFC 7672 §2.2).
	Encrypt
	// Fail: the TLSA lookup failed in a signed zone (a bogus answer, a
	// SERVFAIL): the host cannot be used now and the mail waits (§2.2).
	Fail
)

// Host is the DANE policy of one MX host.
type Host struct {
	Kind Kind
	// Records are the usable TLSA records (Required), in the order given.
	Records []dns.TLSA
	// Failure is the TLS-RPT result type of a Fail; Err why.
	Failure string
	Err     error
}

// DomainSecure reports whether domain's MX answer is secure (RFC 7672
// §2.2.1): only then may its hosts' TLSA records be trusted, an attacker
// being able to name other hosts otherwise. A lookup that fails is
// insecure: the delivery's own lookup meets the failure.
func DomainSecure(ctx context.Context, r Resolver, domain string) bool {
	_, secure, err := r.LookupMXSecure(ctx, domain)
	return err == nil && secure
}

// LookupHost finds the DANE policy of the MX host host (of a domain
// whose MX answer was secure) for port 25 (RFC 7672 §2.2): its addresses
// must be secure before its TLSA records are asked (§2.2.2); a secure,
// non-empty TLSA RRset is the policy. The TLSA records are asked at the
// host's own name: a host that is an alias (CNAME) is not looked up at
// its target (§2.2.2's first candidate), which only narrows where DANE
// applies.
func LookupHost(ctx context.Context, r Resolver, host string) Host {
	if _, secure, err := r.LookupIPSecure(ctx, host); err != nil || !secure {
		return Host{}
	}
	recs, secure, err := r.LookupTLSA(ctx, "_25._tcp."+strings.TrimSuffix(host, "."))
	switch {
	case dns.IsNotFound(err):
		return Host{}
	case err != nil:
		return Host{Kind: Fail, Failure: ResultDNSSECInvalid, Err: err}
	case !secure || len(recs) == 0:
		return Host{}
	}
	var usable []dns.TLSA
	for _, t := range recs {
		if Usable(t) {
			usable = append(usable, t)
		}
	}
	if len(usable) == 0 {
		return Host{Kind: Encrypt}
	}
	return Host{Kind: Required, Records: usable}
}

// Usable reports whether a TLSA record can be used for SMTP: usage
// DANE-TA or DANE-EE (RFC 7672 §3.1.3 rules out PKIX-TA and PKIX-EE), a
// known selector and matching type, and data of the length its matching
// type gives.
func Usable(t dns.TLSA) bool {
	if t.Usage != UsageDANETA && t.Usage != UsageDANEEE {
		return false
	}
	if t.Selector != SelectorCert && t.Selector != SelectorSPKI {
		return false
	}
	switch t.MatchingType {
	case MatchFull:
		return len(t.Data) > 0
	case MatchSHA256:
		return len(t.Data) == 32
	case MatchSHA512:
		return len(t.Data) == 64
	}
	return false
}

// String is a record in presentation form, for reports (RFC 8460 §4.4's
// policy-string of a tlsa policy) and logs.
func String(t dns.TLSA) string {
	const hexDigits = "0123456789abcdef"
	b := make([]byte, 0, 2*len(t.Data))
	for _, c := range t.Data {
		b = append(b, hexDigits[c>>4], hexDigits[c&15])
	}
	return strconv.Itoa(int(t.Usage)) + " " + strconv.Itoa(int(t.Selector)) + " " +
		strconv.Itoa(int(t.MatchingType)) + " " + string(b)
}

// ErrNoMatch is a certificate that none of the records matches.
var ErrNoMatch = errors.New("dane: no TLSA record matches the certificate")
