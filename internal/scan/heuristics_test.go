package scan

import (
	"slices"
	"strings"
	"testing"

	"sendpool/internal/scan/scantest"
)

func rules(r Result) []string {
	var out []string
	for _, h := range r.Rules {
		out = append(out, h.Name)
	}
	slices.Sort(out)
	return out
}

func heuristics(t *testing.T, body []byte) Result {
	t.Helper()
	r, err := Heuristics{}.Scan(t.Context(), &Input{Domains: []string{"shop.test"}, From: "s@shop.test", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const hdr = "From: Shop <s@shop.test>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <1@shop.test>\r\n"

// TestHeuristicRules: each rule fires on the trick it is for and on
// nothing else; the clean message fires none.
func TestHeuristicRules(t *testing.T) {
	html := func(s string) string {
		return hdr + "Subject: news\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>" + s + "</body></html>\r\n"
	}
	tests := []struct {
		name  string
		body  string
		rules []string
	}{
		{"clean", hdr + "Subject: Your order\r\n\r\nThanks for your order.\r\n", nil},
		{"missing headers", "Subject: hi\r\n\r\nhello\r\n", []string{RuleMissingDate, RuleMissingFrom, RuleMissingMessageID}},
		{"malformed headers", "From: not an address\r\nDate: yesterday\r\nMessage-ID: 12345\r\nSubject: hi\r\n\r\nhello\r\n",
			[]string{RuleBadDate, RuleBadFrom, RuleBadMessageID}},
		{"from another domain", "From: <ceo@bank.test>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <1@shop.test>\r\nSubject: hi\r\n\r\nhello\r\n",
			[]string{RuleFromForeign}},
		{"from a subdomain", "From: <a@mail.shop.test>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <1@shop.test>\r\nSubject: hi\r\n\r\nhello\r\n", nil},
		{"shouting", hdr + "Subject: BUY NOW AND SAVE BIG\r\n\r\nhello\r\n", []string{RuleShouting}},
		{"short capitals are fine", hdr + "Subject: FYI: ACME\r\n\r\nhello\r\n", nil},
		{"phishing", hdr + "Subject: notice\r\n\r\nUnusual sign-in\r\n activity was seen. Please verify your\r\naccount today.\r\n",
			[]string{RulePhishing, RulePhishing}},
		{"link mismatch", html(`<p>Pay here: <a href="http://evil.test/x">https://www.paypal.com/login</a></p><p>plain</p>`),
			[]string{RuleHTMLOnly, RuleLinkMismatch}},
		{"link to its own host", html(`<a href="https://www.shop.test/o/1">shop.test/o/1</a> <a href="https://evil.test">click here</a>`),
			[]string{RuleHTMLOnly}},
		{"hidden display none", html(`<p>Hello</p><div style="display: none">buy cheap pills</div>`),
			[]string{RuleHTMLOnly, RuleHiddenText}},
		{"hidden font size 0", html(`<p>Hello</p><span style="font-size:0px">buy cheap pills</span>`),
			[]string{RuleHTMLOnly, RuleHiddenText}},
		{"hidden white on white", `From: <s@shop.test>` + "\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <1@shop.test>\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n" +
			`<body bgcolor="#FFFFFF"><p>Hello</p><font color="white">cheap pills</font></body>`, []string{RuleHTMLOnly, RuleHiddenText}},
		{"visible html with text part", hdr + "Subject: news\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nHello\r\n--a\r\nContent-Type: text/html\r\n\r\n<p style=\"color:#333\">Hello</p>\r\n--a--\r\n", nil},
		{"gtube", hdr + "Subject: t\r\n\r\n" + scantest.GTUBE() + "\r\n", []string{RuleGTUBE}},
		{"eicar raw", hdr + "Subject: t\r\n\r\n" + string(scantest.EICAR()) + "\r\n", []string{RuleEICAR}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := heuristics(t, []byte(tc.body))
			want := slices.Clone(tc.rules)
			slices.Sort(want)
			if got := rules(r); !slices.Equal(got, want) {
				t.Fatalf("rules %v, want %v (%s)", got, tc.rules, r.RuleNames())
			}
		})
	}
}

// TestHeuristicVerdicts: GTUBE is spam, EICAR is a virus also when only a
// base64 attachment holds it, executables and double extensions score.
func TestHeuristicVerdicts(t *testing.T) {
	if r := heuristics(t, scantest.Message("s@shop.test", "r@x.test", "t", scantest.GTUBE())); !r.Spam || r.Score < 1000 {
		t.Fatalf("GTUBE: %+v", r)
	}
	att := scantest.WithAttachment("s@shop.test", "r@x.test", "doc", "readme.txt", scantest.EICAR())
	if strings.Contains(string(att), "EICAR") {
		t.Fatal("the attachment shows EICAR undecoded: the test proves nothing")
	}
	if r := heuristics(t, att); r.Virus != "Eicar-Test-Signature" {
		t.Fatalf("EICAR in a base64 attachment: %+v", r)
	}
	r := heuristics(t, scantest.WithAttachment("s@shop.test", "r@x.test", "invoice", "invoice.pdf.exe", []byte("MZ...")))
	if got := rules(r); !slices.Equal(got, []string{RuleDoubleExtension, RuleExecutable}) || r.Score < 6 {
		t.Fatalf("invoice.pdf.exe: %v score %v", got, r.Score)
	}
	r = heuristics(t, scantest.WithAttachment("s@shop.test", "r@x.test", "tool", "setup.js", []byte("x")))
	if got := rules(r); !slices.Equal(got, []string{RuleExecutable}) {
		t.Fatalf("setup.js: %v", got)
	}
	if r := heuristics(t, scantest.Message("s@shop.test", "r@x.test", "Monthly report", "All good.")); len(r.Rules) != 0 || r.Score != 0 || r.Spam || r.Virus != "" {
		t.Fatalf("clean message: %+v", r)
	}
}

// TestCombine: scores add up against the threshold, any scanner's spam or
// virus wins, rules are listed highest first.
func TestCombine(t *testing.T) {
	a := Result{Score: 3, Rules: []Hit{{Name: "A", Score: 3}}}
	b := Result{Score: 3.5, Rules: []Hit{{Name: "B", Score: 3.5}}}
	if r := Combine(6, a); r.Spam {
		t.Fatal("3 of 6 is not spam")
	}
	r := Combine(6, a, b)
	if !r.Spam || r.Score != 6.5 || r.Rules[0].Name != "B" {
		t.Fatalf("combined: %+v", r)
	}
	if r := Combine(6, Result{Spam: true}, Result{Virus: "X"}, Result{Virus: "Y"}); !r.Spam || r.Virus != "X" {
		t.Fatalf("verdicts: %+v", r)
	}
}

// FuzzHeuristics: no input makes the MIME and HTML walk panic.
func FuzzHeuristics(f *testing.F) {
	f.Add([]byte(hdr + "Subject: x\r\n\r\nhello\r\n"))
	f.Add(scantest.WithAttachment("s@shop.test", "r@x.test", "doc", "a.pdf.exe", []byte("abc")))
	f.Add([]byte("Content-Type: text/html\r\n\r\n<a href=http://x.test>y.test</a><div style=display:none>z"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=r\r\n\r\n--r\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		Heuristics{}.Scan(t.Context(), &Input{Domains: []string{"shop.test"}, Body: b})
	})
}
