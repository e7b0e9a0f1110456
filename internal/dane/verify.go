package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"sendpool/internal/dns"
)

// Verify checks a server's certificate chain (leaf first, as presented)
// against usable TLSA records (RFC 7672 §3.1), and returns the record
// that matched:
//   - DANE-EE (3) matches the leaf itself; its names and dates do not
//     matter (§3.1.1).
//   - DANE-TA (2) matches a certificate of the chain, the trust anchor,
//     which the leaf must chain to, valid at now and for one of names
//     (§3.2.2: the MX host's name, and the recipient domain). A TA given
//     only by its key (2 1 0) and absent from the chain is not supported.
//
// None matching is ErrNoMatch, with the reasons of the TA records that
// matched a certificate but not a valid chain.
func Verify(records []dns.TLSA, chain []*x509.Certificate, names []string, now time.Time) (dns.TLSA, error) {
	if len(chain) == 0 {
		return dns.TLSA{}, fmt.Errorf("%w: no certificate presented", ErrNoMatch)
	}
	var errs []error
	for _, t := range records {
		switch t.Usage {
		case UsageDANEEE:
			if Matches(t, chain[0]) {
				return t, nil
			}
		case UsageDANETA:
			for _, ta := range chain {
				if !Matches(t, ta) {
					continue
				}
				err := chainsTo(chain, ta, names, now)
				if err == nil {
					return t, nil
				}
				errs = append(errs, fmt.Errorf("%s: %w", String(t), err))
			}
		}
	}
	if len(errs) > 0 {
		return dns.TLSA{}, fmt.Errorf("%w: %w", ErrNoMatch, errors.Join(errs...))
	}
	return dns.TLSA{}, ErrNoMatch
}

// Matches reports whether t's association data is that of cert, by its
// selector and matching type (RFC 6698 §2.1.2, §2.1.3).
func Matches(t dns.TLSA, cert *x509.Certificate) bool {
	var data []byte
	switch t.Selector {
	case SelectorCert:
		data = cert.Raw
	case SelectorSPKI:
		data = cert.RawSubjectPublicKeyInfo
	default:
		return false
	}
	switch t.MatchingType {
	case MatchFull:
	case MatchSHA256:
		h := sha256.Sum256(data)
		data = h[:]
	case MatchSHA512:
		h := sha512.Sum512(data)
		data = h[:]
	default:
		return false
	}
	return bytes.Equal(data, t.Data)
}

// chainsTo verifies the leaf up to the trust anchor ta, the rest of the
// chain as intermediates, for one of names at now.
func chainsTo(chain []*x509.Certificate, ta *x509.Certificate, names []string, now time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(ta)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		if c != ta {
			inter.AddCert(c)
		}
	}
	var last error
	for _, name := range names {
		_, err := chain[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter, CurrentTime: now})
		if err == nil {
			return nil
		}
		last = err
	}
	if last == nil {
		return errors.New("no name to check")
	}
	return last
}
