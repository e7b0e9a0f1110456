package main

import (
	"strings"
	"testing"

	"sendpool/internal/dnsrec"
)

// TestPrintReportReturnPath: the return-path line shows only when checked,
// with what was found and expected when it is not ok.
func TestPrintReportReturnPath(t *testing.T) {
	ok := dnsrec.Result{Status: dnsrec.OK}
	r := &dnsrec.Report{SPF: ok, DMARC: ok, DKIM: dnsrec.DKIMResult{Result: ok}}
	var b strings.Builder
	if err := printReport(&b, r); err != nil || strings.Contains(b.String(), "return-path") {
		t.Fatalf("unchecked return path printed (%v):\n%s", err, &b)
	}
	r.ReturnPath = &dnsrec.Result{Status: dnsrec.Wrong, Found: []string{"bounce.other.test"},
		Expected: []string{"bounce.relay.sendpool.test"}, Detail: "points elsewhere"}
	b.Reset()
	if err := printReport(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"return-path", "wrong", "points elsewhere", "found:    bounce.other.test", "expected: bounce.relay.sendpool.test"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, &b)
		}
	}
}
