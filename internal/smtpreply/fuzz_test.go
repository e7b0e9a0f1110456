package smtpreply

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// enhancedRE is RFC 3463 §2's grammar for the codes IsEnhanced accepts,
// written independently of it.
var enhancedRE = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)

// FuzzParse checks Parse and IsEnhanced against their definitions on any
// input: a reply is recognised exactly when s starts with three digits and
// then the end, a space or a hyphen; the code is those digits; an enhanced
// code satisfies RFC 3463 §2's grammar and is the first word after the
// code; Text is the end of s; Status is the enhanced code or "", and never
// of another class than the code. The corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add("550 5.1.1 No such user")
	f.Add("550-5.7.1 Blocked")
	f.Add("550 2.1.5 contradicts")
	f.Add("dial tcp 127.0.0.3:25: connect: connection refused")
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := Parse(s)
		isReply := len(s) >= 3 && strings.Trim(s[:3], "0123456789") == "" &&
			(len(s) == 3 || s[3] == ' ' || s[3] == '-')
		if ok != isReply {
			t.Fatalf("Parse(%q) ok = %v", s, ok)
		}
		if !ok {
			if r != (Reply{}) {
				t.Fatalf("Parse(%q) = %+v without ok", s, r)
			}
			return
		}
		if code, err := strconv.Atoi(s[:3]); err != nil || code != r.Code {
			t.Fatalf("Parse(%q).Code = %d", s, r.Code)
		}
		first, _, _ := strings.Cut(strings.TrimLeft(s[3:], " -"), " ")
		if want := enhancedRE.MatchString(first); (r.Enhanced != "") != want || want && r.Enhanced != first {
			t.Fatalf("Parse(%q).Enhanced = %q, first word %q", s, r.Enhanced, first)
		}
		if !strings.HasSuffix(s, r.Text) || strings.HasPrefix(r.Text, " ") {
			t.Fatalf("Parse(%q).Text = %q", s, r.Text)
		}
		if st := r.Status(); st != "" && (st != r.Enhanced || st[0] != s[0]) {
			t.Fatalf("Parse(%q).Status() = %q", s, st)
		}
		if r.Enhanced != "" && r.Enhanced[0] == s[0] && r.Status() == "" {
			t.Fatalf("Parse(%q).Status() empty for %q", s, r.Enhanced)
		}
		if IsEnhanced(s) != enhancedRE.MatchString(s) {
			t.Fatalf("IsEnhanced(%q) = %v", s, IsEnhanced(s))
		}
	})
}

// FuzzFinal checks Final on any input: it recognises a reply exactly when
// the first non-blank line, white space collapsed, is one Parse accepts; the
// code is then one of the codes written in the input; its text never starts
// or ends with a space. The corpus is in testdata/fuzz/FuzzFinal.
func FuzzFinal(f *testing.F) {
	f.Add("220-mx.example.org ESMTP\r\n421 4.7.0 Too many connections")
	f.Add("550-5.7.25 The IP address 550-5.7.25 PTR record 550 5.7.25 end")
	f.Add("220-laposte 421 4.2.1 Service refuse.")
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := Final(s)
		first := ""
		for _, l := range strings.Split(s, "\n") {
			if first = strings.Join(strings.Fields(l), " "); first != "" {
				break
			}
		}
		if _, want := Parse(first); ok != want {
			t.Fatalf("Final(%q) ok = %v", s, ok)
		}
		if !ok {
			return
		}
		if code := fmt.Sprintf("%03d", r.Code); !strings.Contains(s, code) {
			t.Fatalf("Final(%q).Code = %d", s, r.Code)
		}
		if strings.HasPrefix(r.Text, " ") || strings.HasSuffix(r.Text, " ") {
			t.Fatalf("Final(%q).Text = %q", s, r.Text)
		}
		if r.Enhanced != "" && !IsEnhanced(r.Enhanced) {
			t.Fatalf("Final(%q).Enhanced = %q", s, r.Enhanced)
		}
	})
}
