package api_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/dnsrec"
)

// checkRaw is the check's answer as JSON objects, to see which keys it has.
func (e *domainEnv) checkRaw(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	code, body := e.do(t, "GET", "/api/v1/domains/shop.test/check", "")
	wantStatus(t, "check", code, body, 200)
	return decode[map[string]json.RawMessage](t, body)
}

func addShop(t *testing.T, e *domainEnv) api.DomainInfo {
	t.Helper()
	if err := e.store.CreateAccount(t.Context(), &account.Account{Name: "shop", Status: account.StatusActive}); err != nil {
		t.Fatal(err)
	}
	code, body := e.do(t, "POST", "/api/v1/domains", `{"domain":"shop.test","account":"shop"}`)
	wantStatus(t, "add", code, body, 201)
	return decode[api.DomainInfo](t, body)
}

// TestDomainCheckNoReturnPath: without a return-path host the answer has
// no return_path key, and spf, dkim, dmarc keep the SPEC §5 shape.
func TestDomainCheckNoReturnPath(t *testing.T) {
	e := newDomainEnv(t)
	e.publish(addShop(t, e).Records)
	raw := e.checkRaw(t)
	if _, ok := raw["return_path"]; ok {
		t.Fatalf("return_path without a return-path host: %s", raw["return_path"])
	}
	for _, k := range []string{"spf", "dkim", "dmarc"} {
		var res map[string]any
		if err := json.Unmarshal(raw[k], &res); err != nil {
			t.Fatal(err)
		}
		if res["status"] != "ok" || res["found"] == nil || res["expected"] == nil {
			t.Fatalf("%s: %s", k, raw[k])
		}
	}
}

// TestDomainCheckReturnPathAndDMARC: return_path goes missing → ok →
// wrong as the CNAME is published and changed, a missing one leaving the
// answer ok; with quarantine expected, DMARC records with pct=50 or p=none
// are wrong and say why.
func TestDomainCheckReturnPathAndDMARC(t *testing.T) {
	e := newDomainEnv(t, func(c *dnsrec.Config) {
		c.ReturnPathHost = "bounce.relay.sendpool.test"
		c.DMARCPolicy = "quarantine"
	})
	info := addShop(t, e)
	var txt []dnsrec.Record
	for _, r := range info.Records {
		if r.Type == "TXT" {
			txt = append(txt, r)
		}
	}
	e.publish(txt)

	raw := e.checkRaw(t)
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw["return_path"]); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != `{"status":"missing","found":[],"expected":["bounce.relay.sendpool.test"],"detail":"no CNAME record at bounces.shop.test"}` {
		t.Fatalf("return_path before publishing: %s", got)
	}
	if string(raw["ok"]) != "true" {
		t.Fatalf("a missing return path made the check not ok: %s", raw["ok"])
	}

	e.dns.SetCNAME("bounces.shop.test", "BOUNCE.relay.sendpool.test.")
	if r := e.check(t); r.ReturnPath == nil || r.ReturnPath.Status != dnsrec.OK || !r.OK {
		t.Fatalf("return_path after publishing: %+v", r.ReturnPath)
	}
	e.dns.SetCNAME("bounces.shop.test", "bounce.other.test")
	if r := e.check(t); r.ReturnPath.Status != dnsrec.Wrong || r.ReturnPath.Found[0] != "bounce.other.test" || r.OK {
		t.Fatalf("return_path pointing elsewhere: %+v (ok=%v)", r.ReturnPath, r.OK)
	}
	e.dns.SetCNAME("bounces.shop.test", "bounce.relay.sendpool.test")

	for _, tc := range []struct{ rec, why string }{
		{"v=DMARC1; p=quarantine; pct=50", "pct=50: p=quarantine applies to only 50% of failing mail"},
		{"v=DMARC1; p=none", "p=none is weaker than the expected p=quarantine"},
	} {
		e.dns.SetTXT("_dmarc.shop.test", tc.rec)
		r := e.check(t)
		if r.DMARC.Status != dnsrec.Wrong || !strings.Contains(r.DMARC.Detail, tc.why) || r.OK ||
			r.DMARC.Expected[0] != "v=DMARC1; p=quarantine; rua=mailto:dmarc@shop.test" {
			t.Fatalf("%q: %+v (ok=%v)", tc.rec, r.DMARC, r.OK)
		}
	}
	e.dns.SetTXT("_dmarc.shop.test", "v=DMARC1; p=quarantine")
	if r := e.check(t); r.DMARC.Status != dnsrec.OK || !r.OK {
		t.Fatalf("p=quarantine: %+v", r.DMARC)
	}
}
