package dns

import (
	"bytes"
	"testing"

	"sendpool/internal/sandbox"
)

func TestSecureLookups(t *testing.T) {
	s := newServer(t)
	s.SetMX("signed.test", sandbox.MXRecord{Host: "mx.signed.test", Pref: 10})
	s.SetA("mx.signed.test", "127.0.0.20")
	s.SetTLSA("_25._tcp.mx.signed.test", sandbox.TLSARecord{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{1, 2, 3}})
	s.SetMX("plain.test", sandbox.MXRecord{Host: "mx.plain.test", Pref: 10})
	s.SetA("mx.plain.test", "127.0.0.21")
	s.SetSecure("signed.test", true)

	v := newClient(t, Options{DNSSEC: true}, s.Addr())
	mxs, secure, err := v.LookupMXSecure(t.Context(), "signed.test")
	if err != nil || !secure || len(mxs) != 1 {
		t.Fatalf("signed MX: %v secure=%v err=%v", mxs, secure, err)
	}
	if _, secure, err := v.LookupIPSecure(t.Context(), "mx.signed.test"); err != nil || !secure {
		t.Errorf("signed A: secure=%v err=%v", secure, err)
	}
	recs, secure, err := v.LookupTLSA(t.Context(), "_25._tcp.mx.signed.test")
	if err != nil || !secure || len(recs) != 1 || recs[0].Usage != 3 || recs[0].Selector != 1 ||
		recs[0].MatchingType != 1 || !bytes.Equal(recs[0].Data, []byte{1, 2, 3}) {
		t.Errorf("TLSA: %+v secure=%v err=%v", recs, secure, err)
	}
	if _, secure, err := v.LookupMXSecure(t.Context(), "plain.test"); err != nil || secure {
		t.Errorf("unsigned MX: secure=%v err=%v, want insecure", secure, err)
	}
	// No TLSA record: no error, nothing.
	if recs, _, err := v.LookupTLSA(t.Context(), "_25._tcp.mx.plain.test"); err != nil && !IsNotFound(err) || len(recs) != 0 {
		t.Errorf("no TLSA: %v %v", recs, err)
	}

	// A plain client never says secure, and a shared cache keeps the two
	// apart: an answer without AD must not pass for a validated one.
	shared := NewMemoryCache(100, nil)
	plain := newClient(t, Options{Cache: shared}, s.Addr())
	if _, secure, err := plain.LookupMXSecure(t.Context(), "signed.test"); err != nil || secure {
		t.Errorf("plain client: secure=%v err=%v", secure, err)
	}
	v2 := newClient(t, Options{DNSSEC: true, Cache: shared}, s.Addr())
	if _, secure, err := v2.LookupMXSecure(t.Context(), "signed.test"); err != nil || !secure {
		t.Errorf("validating client after a plain one, shared cache: secure=%v err=%v", secure, err)
	}

	// A SERVFAIL (a bogus answer at a validating resolver) is temporary.
	s.SetServFail("_25._tcp.mx.signed.test", true)
	fresh := newClient(t, Options{DNSSEC: true, Cache: NoCache{}}, s.Addr())
	if _, _, err := fresh.LookupTLSA(t.Context(), "_25._tcp.mx.signed.test"); err == nil || IsPermanent(err) {
		t.Errorf("SERVFAIL: err %v, want temporary", err)
	}
}
