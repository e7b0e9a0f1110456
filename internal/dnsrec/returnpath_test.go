package dnsrec

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestCheckReturnPath: no return_path key without a return-path host;
// with one, the bounces.<domain> CNAME is missing, then ok (case and final
// dot aside), then wrong. Missing leaves the report ok, wrong does not.
func TestCheckReturnPath(t *testing.T) {
	e := newCheckEnv(t)
	ctx := t.Context()
	now := time.Now()
	d := testDomain(t, "shop.test", now)
	d.Keys = d.Keys[1:3] // the two active keys
	e.publish(e.checker.Config.Records(d, now))

	r := e.checker.Check(ctx, d, now)
	if b, _ := json.Marshal(r); r.ReturnPath != nil || strings.Contains(string(b), "return_path") || !r.OK {
		t.Fatalf("without return_path_host: %s", b)
	}

	e.checker.Config.ReturnPathHost = "bounce.relay.sendpool.test"
	const at = "bounces.shop.test"
	r = e.checker.Check(ctx, d, now)
	if rp := r.ReturnPath; rp == nil || rp.Status != Missing || len(rp.Found) != 0 ||
		rp.Expected[0] != "bounce.relay.sendpool.test" || !r.OK {
		t.Fatalf("before publishing: %+v (ok=%v)", rp, r.OK)
	}
	// Other records at the name but no CNAME: still missing.
	e.srv.SetTXT(at, "bounce.relay.sendpool.test")
	if r = e.checker.Check(ctx, d, now); r.ReturnPath.Status != Missing || !strings.Contains(r.ReturnPath.Detail, "no CNAME") {
		t.Fatalf("a TXT record instead of the CNAME: %+v", r.ReturnPath)
	}
	e.srv.Remove(at)

	e.srv.SetCNAME(at, "Bounce.Relay.SendPool.TEST.")
	r = e.checker.Check(ctx, d, now)
	if rp := r.ReturnPath; rp.Status != OK || rp.Found[0] != "bounce.relay.sendpool.test" || !r.OK {
		t.Fatalf("after publishing: %+v (ok=%v)", rp, r.OK)
	}
	// The configured host written with a final dot compares the same.
	e.checker.Config.ReturnPathHost = "bounce.relay.sendpool.test."
	if r = e.checker.Check(ctx, d, now); r.ReturnPath.Status != OK {
		t.Fatalf("configured with a final dot: %+v", r.ReturnPath)
	}

	e.srv.SetCNAME(at, "bounce.elsewhere.test")
	r = e.checker.Check(ctx, d, now)
	if rp := r.ReturnPath; rp.Status != Wrong || rp.Found[0] != "bounce.elsewhere.test" || r.OK ||
		!strings.Contains(rp.Detail, "points to bounce.elsewhere.test") {
		t.Fatalf("pointing elsewhere: %+v (ok=%v)", rp, r.OK)
	}
}

// TestCheckDMARCPolicy: with quarantine expected, a record is ok only if
// it quarantines (or rejects) all failing mail: pct= below 100 and p=none
// are wrong, p=reject; pct=50 is ok (the rest is quarantined, RFC 7489
// §6.6.4), and a weak sp= is noted without making the record wrong.
func TestCheckDMARCPolicy(t *testing.T) {
	e := newCheckEnv(t)
	now := time.Now()
	d := testDomain(t, "shop.test", now)
	d.Keys = d.Keys[1:3]
	e.publish(e.checker.Config.Records(d, now))
	e.checker.Config.DMARCPolicy = "quarantine"

	for _, tc := range []struct {
		want, rec string
		status    Status
		detail    string // a substring of Detail; "" wants none
	}{
		{"quarantine", "v=DMARC1; p=quarantine; rua=mailto:dmarc@shop.test", OK, ""},
		{"quarantine", "v=DMARC1; p=quarantine; pct=100", OK, ""},
		{"quarantine", "v=DMARC1; p=quarantine; pct=50", Wrong, "pct=50: p=quarantine applies to only 50% of failing mail, the rest gets p=none"},
		{"quarantine", "v=DMARC1; p=quarantine; pct=0", Wrong, "pct=0"},
		{"quarantine", "v=DMARC1; p=none", Wrong, "p=none is weaker than the expected p=quarantine"},
		{"quarantine", "v=DMARC1; p=none; pct=100", Wrong, "p=none is weaker"},
		{"quarantine", "v=DMARC1; p=reject; pct=50", OK, ""},
		{"quarantine", "v=DMARC1; p=quarantine; sp=none", OK, "sp=none: mail from subdomains of shop.test"},
		{"quarantine", "v=DMARC1; sp=reject; rua=mailto:dmarc@shop.test", Wrong, "missing a 'p'"},
		{"reject", "v=DMARC1; p=reject; pct=50", Wrong, "the rest gets p=quarantine"},
		{"reject", "v=DMARC1; p=quarantine", Wrong, "not rejected"},
		{"none", "v=DMARC1; p=none; pct=10", OK, ""},
	} {
		e.checker.Config.DMARCPolicy = tc.want
		e.srv.SetTXT("_dmarc.shop.test", tc.rec)
		r := e.checker.Check(t.Context(), d, now)
		got := r.DMARC
		if got.Status != tc.status || (tc.detail == "") != (got.Detail == "") || !strings.Contains(got.Detail, tc.detail) ||
			r.OK != (tc.status == OK) || got.Found[0] != tc.rec {
			t.Errorf("%q expecting p=%s: %s %q (ok=%v), want %s %q", tc.rec, tc.want, got.Status, got.Detail, r.OK, tc.status, tc.detail)
		}
	}
}
