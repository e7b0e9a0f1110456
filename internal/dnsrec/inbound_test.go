package dnsrec

import (
	"net/netip"
	"testing"
	"time"

	"sendpool/internal/dkim"
)

// TestCheckSPFInbound: the inbound helper follows includes, a and mx terms
// through our resolver and gives each RFC 7208 result.
func TestCheckSPFInbound(t *testing.T) {
	e := newCheckEnv(t)
	e.srv.SetTXT("shop.test", "v=spf1 include:_spf.relay.sendpool.test a:web.shop.test mx ~all")
	e.srv.SetTXT("_spf.relay.sendpool.test", "v=spf1 ip4:127.0.0.2/31 -all")
	e.srv.SetA("web.shop.test", "192.0.2.80")
	e.srv.SetMX("shop.test")
	e.srv.SetTXT("strict.test", "v=spf1 ptr:sendpool.test -all")
	e.srv.SetTXT("broken.test", "v=spf1 include:nowhere.test -all")
	e.srv.SetTXT("two.test", "v=spf1 -all", "v=spf1 +all")
	e.srv.SetServFail("flaky.test", true)
	for _, tc := range []struct {
		ip, sender string
		want       SPFResult
	}{
		{"127.0.0.2", "a@shop.test", SPFPass},
		{"127.0.0.3", "a@shop.test", SPFPass},
		{"192.0.2.80", "a@shop.test", SPFPass},
		{"127.0.0.9", "a@shop.test", SPFSoftFail},
		{"127.0.0.4", "a@strict.test", SPFPass}, // PTR mta3.sendpool.test, which resolves back
		{"192.0.2.1", "a@strict.test", SPFFail},
		{"127.0.0.2", "a@broken.test", SPFPermError},
		{"127.0.0.2", "a@two.test", SPFPermError},
		{"127.0.0.2", "a@none.test", SPFNone},
		{"127.0.0.2", "a@flaky.test", SPFTempError},
		{"127.0.0.2", "", SPFNone}, // null sender: the HELO name, which has none
	} {
		got, err := CheckSPF(t.Context(), e.r, netip.MustParseAddr(tc.ip), "mta1.sendpool.test", tc.sender)
		if got != tc.want {
			t.Errorf("CheckSPF(%s, %q) = %s (%v), want %s", tc.ip, tc.sender, got, err, tc.want)
		}
	}
}

// TestEvaluateDMARC: alignment (relaxed and strict), the organizational
// domain's record and its sp=, no policy, and a DNS failure.
func TestEvaluateDMARC(t *testing.T) {
	e := newCheckEnv(t)
	e.srv.SetTXT("_dmarc.shop.test", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@shop.test")
	e.srv.SetTXT("_dmarc.strict.test", "v=DMARC1; p=reject; adkim=s; aspf=s")
	e.srv.SetTXT("_dmarc.two.test", "v=DMARC1; p=reject", "v=DMARC1; p=none")
	e.srv.SetServFail("_dmarc.flaky.test", true)
	pass := func(d string) []dkim.Verification { return []dkim.Verification{{Domain: d, Result: dkim.Pass}} }
	failed := []dkim.Verification{{Domain: "shop.test", Result: dkim.Fail}}
	for _, tc := range []struct {
		name string
		in   DMARCInput
		want string
		pol  string
	}{
		{"dkim aligned", DMARCInput{FromDomain: "shop.test", DKIM: pass("shop.test")}, DMARCPass, "reject"},
		{"dkim relaxed from a subdomain", DMARCInput{FromDomain: "news.shop.test", DKIM: pass("shop.test")}, DMARCPass, "quarantine"},
		{"spf aligned", DMARCInput{FromDomain: "shop.test", SPF: SPFPass, SPFDomain: "bounces.shop.test"}, DMARCPass, "reject"},
		{"spf pass for another domain", DMARCInput{FromDomain: "shop.test", SPF: SPFPass, SPFDomain: "sendpool.test",
			DKIM: failed}, DMARCFail, "reject"},
		{"dkim of another domain", DMARCInput{FromDomain: "shop.test", DKIM: pass("sendpool.test")}, DMARCFail, "reject"},
		{"strict wants the same name", DMARCInput{FromDomain: "strict.test", SPF: SPFPass, SPFDomain: "b.strict.test",
			DKIM: pass("mail.strict.test")}, DMARCFail, "reject"},
		{"strict, same name", DMARCInput{FromDomain: "strict.test", DKIM: pass("strict.test")}, DMARCPass, "reject"},
		{"no policy", DMARCInput{FromDomain: "none.test", DKIM: pass("none.test")}, DMARCNone, ""},
		{"two records are none", DMARCInput{FromDomain: "two.test"}, DMARCNone, ""},
		{"dns failure", DMARCInput{FromDomain: "flaky.test"}, DMARCTempError, ""},
	} {
		got := EvaluateDMARC(t.Context(), e.r, tc.in)
		if got.Result != tc.want || string(got.Policy) != tc.pol {
			t.Errorf("%s: %s with policy %q, want %s with %q (%+v)", tc.name, got.Result, got.Policy, tc.want, tc.pol, got)
		}
	}
}

// TestInboundOnASignedMessage: the helpers together on a message signed by
// the Manager, as the inbound side will use them.
func TestInboundOnASignedMessage(t *testing.T) {
	e := newCheckEnv(t)
	d := testDomain(t, "shop.test", time.Now())
	d.Keys = d.Keys[1:3]
	e.publish(e.checker.Config.Records(d, time.Now()))
	var keys []dkim.SigningKey
	for _, k := range d.Signing() {
		s, err := dkim.ParsePrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, dkim.SigningKey{Selector: k.Selector, Signer: s})
	}
	msg, err := dkim.Sign([]byte("From: a@shop.test\r\nTo: b@gmail.test\r\nSubject: x\r\n\r\nhi\r\n"), "shop.test", keys)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := dkim.Verify(t.Context(), e.r, msg)
	if err != nil || len(vs) != 2 || vs[0].Result != dkim.Pass || vs[1].Result != dkim.Pass {
		t.Fatalf("Verify: %+v, %v", vs, err)
	}
	if vs[0].Selector != "sp202611r" || vs[1].Algorithm != "ed25519-sha256" {
		t.Fatalf("verifications: %+v", vs)
	}
	spf, _ := CheckSPF(t.Context(), e.r, netip.MustParseAddr("127.0.0.4"), "mta3.sendpool.test", "a@shop.test")
	out := EvaluateDMARC(t.Context(), e.r, DMARCInput{FromDomain: dkim.FromDomain(msg), SPF: spf, SPFDomain: "shop.test", DKIM: vs})
	if spf != SPFPass || out.Result != DMARCPass || !out.SPFAligned || !out.DKIMAligned {
		t.Fatalf("spf %s, dmarc %+v", spf, out)
	}
}
