package dane

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"sendpool/internal/dns"
	"sendpool/internal/sandbox"
)

func sum256(b []byte) []byte { h := sha256.Sum256(b); return h[:] }
func sum512(b []byte) []byte { h := sha512.Sum512(b); return h[:] }

// chainOf returns the leaf and CA certificates of a sandbox certificate.
func chainOf(t *testing.T, ca *sandbox.CA, notBefore, notAfter time.Time, names ...string) []*x509.Certificate {
	t.Helper()
	c, err := ca.IssueValid(notBefore, notAfter, names...)
	if err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	for _, der := range c.Certificate {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

func TestVerify(t *testing.T) {
	ca, err := sandbox.NewCA("test TA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := sandbox.NewCA("another TA")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid := chainOf(t, ca, now.Add(-time.Hour), now.Add(time.Hour), "mx.dane.test")
	expired := chainOf(t, ca, now.Add(-48*time.Hour), now.Add(-24*time.Hour), "mx.dane.test")
	otherName := chainOf(t, ca, now.Add(-time.Hour), now.Add(time.Hour), "mx.elsewhere.test")
	leaf, root := valid[0], ca.Certificate()
	names := []string{"mx.dane.test", "dane.test"}

	ee := func(sel, match uint8, c *x509.Certificate) dns.TLSA {
		data := c.Raw
		if sel == SelectorSPKI {
			data = c.RawSubjectPublicKeyInfo
		}
		switch match {
		case MatchSHA256:
			data = sum256(data)
		case MatchSHA512:
			data = sum512(data)
		}
		return dns.TLSA{Usage: UsageDANEEE, Selector: sel, MatchingType: match, Data: data}
	}
	ta := func(sel, match uint8, c *x509.Certificate) dns.TLSA {
		r := ee(sel, match, c)
		r.Usage = UsageDANETA
		return r
	}
	for _, tc := range []struct {
		name    string
		records []dns.TLSA
		chain   []*x509.Certificate
		ok      bool
	}{
		{"3 1 1 (the usual)", []dns.TLSA{ee(1, 1, leaf)}, valid, true},
		{"3 0 1", []dns.TLSA{ee(0, 1, leaf)}, valid, true},
		{"3 1 2", []dns.TLSA{ee(1, 2, leaf)}, valid, true},
		{"3 0 0 (full certificate)", []dns.TLSA{ee(0, 0, leaf)}, valid, true},
		{"3 1 1 of another key", []dns.TLSA{ee(1, 1, otherName[0])}, valid, false},
		{"3 1 1, leaf expired: DANE-EE ignores dates (§3.1.1)", []dns.TLSA{ee(1, 1, expired[0])}, expired, true},
		{"3 1 1, leaf for another name: DANE-EE ignores names", []dns.TLSA{ee(1, 1, otherName[0])}, otherName, true},
		{"3 1 1 of the CA does not match the leaf", []dns.TLSA{ee(1, 1, root)}, valid, false},
		{"2 0 1 of the CA in the chain", []dns.TLSA{ta(0, 1, root)}, valid, true},
		{"2 1 1 of the CA in the chain", []dns.TLSA{ta(1, 1, root)}, valid, true},
		{"2 1 1, leaf expired", []dns.TLSA{ta(1, 1, root)}, expired, false},
		{"2 1 1, leaf for another name", []dns.TLSA{ta(1, 1, root)}, otherName, false},
		{"2 1 1 of another CA", []dns.TLSA{ta(1, 1, other.Certificate())}, valid, false},
		{"a mismatch, then a match", []dns.TLSA{ee(1, 1, otherName[0]), ta(1, 1, root)}, valid, true},
		{"no certificate", []dns.TLSA{ee(1, 1, leaf)}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Verify(tc.records, tc.chain, names, now)
			if tc.ok && err != nil {
				t.Fatalf("err %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrNoMatch) {
				t.Fatalf("matched %s, err %v; want ErrNoMatch", String(got), err)
			}
		})
	}
	// DANE-TA names: the recipient domain is a reference identifier too
	// (§3.2.2).
	byDomain := chainOf(t, ca, now.Add(-time.Hour), now.Add(time.Hour), "dane.test")
	if _, err := Verify([]dns.TLSA{ta(1, 1, root)}, byDomain, names, now); err != nil {
		t.Errorf("certificate for the recipient domain: %v", err)
	}
}

func TestUsable(t *testing.T) {
	d32, d64 := make([]byte, 32), make([]byte, 64)
	for _, tc := range []struct {
		r    dns.TLSA
		want bool
	}{
		{dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: d32}, true},
		{dns.TLSA{Usage: 2, Selector: 0, MatchingType: 2, Data: d64}, true},
		{dns.TLSA{Usage: 3, Selector: 1, MatchingType: 0, Data: []byte{1}}, true},
		{dns.TLSA{Usage: 0, Selector: 1, MatchingType: 1, Data: d32}, false}, // PKIX-TA: §3.1.3
		{dns.TLSA{Usage: 1, Selector: 1, MatchingType: 1, Data: d32}, false}, // PKIX-EE: §3.1.3
		{dns.TLSA{Usage: 4, Selector: 1, MatchingType: 1, Data: d32}, false},
		{dns.TLSA{Usage: 3, Selector: 2, MatchingType: 1, Data: d32}, false},
		{dns.TLSA{Usage: 3, Selector: 1, MatchingType: 3, Data: d32}, false},
		{dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: d64}, false}, // wrong length
		{dns.TLSA{Usage: 3, Selector: 1, MatchingType: 0}, false},
	} {
		if got := Usable(tc.r); got != tc.want {
			t.Errorf("%s: %v, want %v", String(tc.r), got, tc.want)
		}
	}
}

// TestLookupHost over a loopback DNS server standing in for a validating
// resolver: only secure addresses and a secure TLSA RRset make a policy.
func TestLookupHost(t *testing.T) {
	s, err := sandbox.NewDNSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	good := sandbox.TLSARecord{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}
	pkix := sandbox.TLSARecord{Usage: 1, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}
	for host, recs := range map[string][]sandbox.TLSARecord{
		"mx.signed.test": {good, pkix}, "unusable.signed.test": {pkix}, "servfail.signed.test": {good},
		"mx.unsigned.test": {good},
	} {
		s.SetA(host, "127.0.0.30")
		s.SetTLSA("_25._tcp."+host, recs...)
	}
	s.SetA("none.signed.test", "127.0.0.31")
	s.SetServFail("_25._tcp.servfail.signed.test", true)
	s.SetSecure("signed.test", true)
	res, err := dns.New([]string{s.Addr()}, dns.Options{DNSSEC: true, Cache: dns.NoCache{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host    string
		kind    Kind
		records int
		failure string
	}{
		{"mx.signed.test", Required, 1, ""},
		{"unusable.signed.test", Encrypt, 0, ""},
		{"servfail.signed.test", Fail, 0, ResultDNSSECInvalid},
		{"none.signed.test", None, 0, ""},
		{"mx.unsigned.test", None, 0, ""},
		{"nxdomain.signed.test", None, 0, ""},
	} {
		h := LookupHost(t.Context(), res, tc.host)
		if h.Kind != tc.kind || len(h.Records) != tc.records || h.Failure != tc.failure {
			t.Errorf("%s: %+v, want kind %d with %d records, failure %q", tc.host, h, tc.kind, tc.records, tc.failure)
		}
	}
	s.SetMX("signed.test", sandbox.MXRecord{Host: "mx.signed.test", Pref: 10})
	s.SetMX("unsigned.test", sandbox.MXRecord{Host: "mx.unsigned.test", Pref: 10})
	if !DomainSecure(t.Context(), res, "signed.test") || DomainSecure(t.Context(), res, "unsigned.test") {
		t.Error("DomainSecure does not follow the AD bit")
	}
}
