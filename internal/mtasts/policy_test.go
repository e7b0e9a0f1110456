package mtasts

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       *Policy // nil: a syntax error
	}{
		{"RFC 8461 §3.2 example", "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n",
			&Policy{Mode: ModeEnforce, MaxAge: 604800 * time.Second, MX: []string{"mail.example.com", "*.example.net", "backupmx.example.com"}}},
		{"CRLF and no final newline", "version: STSv1\r\nmode: testing\r\nmx: MX.Example.COM\r\nmax_age: 86400",
			&Policy{Mode: ModeTesting, MaxAge: 86400 * time.Second, MX: []string{"mx.example.com"}}},
		{"mode none needs no mx", "version: STSv1\nmode: none\nmax_age: 0\n", &Policy{Mode: ModeNone}},
		{"first of a field counts, mx accumulates", "version: STSv1\nmode: testing\nmode: enforce\nmax_age: 60\nmax_age: 90\nmx: a.example\nmx: b.example\n",
			&Policy{Mode: ModeTesting, MaxAge: time.Minute, MX: []string{"a.example", "b.example"}}},
		{"extensions ignored", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557600\nfoo_bar-1.x: some value here\n",
			&Policy{Mode: ModeEnforce, MaxAge: MaxMaxAge, MX: []string{"a.example"}}},
		{"spaces around values", "version:STSv1\nmode:\tenforce \nmx:  a.example\nmax_age: 5\n",
			&Policy{Mode: ModeEnforce, MaxAge: 5 * time.Second, MX: []string{"a.example"}}},
		{"max_age over a year", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", nil},
		{"max_age of 11 digits", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 00000000001\n", nil},
		{"max_age negative", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", nil},
		{"max_age signed", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: +5\n", nil},
		{"no max_age", "version: STSv1\nmode: enforce\nmx: a.example\n", nil},
		{"no version", "mode: enforce\nmx: a.example\nmax_age: 5\n", nil},
		{"wrong version", "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 5\n", nil},
		{"mode is case-sensitive", "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 5\n", nil},
		{"unknown mode", "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 5\n", nil},
		{"enforce without mx", "version: STSv1\nmode: enforce\nmax_age: 5\n", nil},
		{"wildcard in the middle", "version: STSv1\nmode: enforce\nmx: mx.*.example\nmax_age: 5\n", nil},
		{"double wildcard", "version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 5\n", nil},
		{"bare wildcard", "version: STSv1\nmode: enforce\nmx: *\nmax_age: 5\n", nil},
		{"U-label", "version: STSv1\nmode: enforce\nmx: mäil.example\nmax_age: 5\n", nil},
		{"blank line inside", "version: STSv1\n\nmode: enforce\nmx: a.example\nmax_age: 5\n", nil},
		{"not a field", "version: STSv1\nmode enforce\nmx: a.example\nmax_age: 5\n", nil},
		{"HTML error page", "<html><body>Not here</body></html>", nil},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy(tc.text)
			if tc.want == nil {
				if err == nil || !errors.Is(err, ErrSyntax) {
					t.Fatalf("parsed %+v, err %v; want a syntax error", p, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Mode != tc.want.Mode || p.MaxAge != tc.want.MaxAge || !slices.Equal(p.MX, tc.want.MX) {
				t.Errorf("got %+v, want %+v", p, tc.want)
			}
			// What is kept for reports parses back to the same policy.
			again, err := ParsePolicy(strings.Join(p.Lines, "\n"))
			if err != nil || again.Mode != p.Mode || again.MaxAge != p.MaxAge || !slices.Equal(again.MX, p.MX) {
				t.Errorf("lines %q parse back to %+v, %v", p.Lines, again, err)
			}
		})
	}
}

func TestMatchMX(t *testing.T) {
	for _, tc := range []struct {
		pattern, host string
		want          bool
	}{
		{"mail.example.com", "mail.example.com", true},
		{"mail.example.com", "MAIL.Example.com.", true},
		{"mail.example.com", "mail2.example.com", false},
		{"mail.example.com", "example.com", false},
		{"*.example.net", "mx1.example.net", true},
		{"*.example.net", "MX1.EXAMPLE.NET.", true},
		{"*.example.net", "example.net", false},          // §4.1: the wildcard is one label, not none
		{"*.example.net", "a.b.example.net", false},      // nor two
		{"*.example.net", ".example.net", false},         // nor an empty one
		{"*.example.net", "mx1.example.net.evil", false}, // a suffix is no match
		{"*.example.net", "mx1.notexample.net", false},   // nor a longer label
		{"*.mail.example.com", "mx.mail.example.com", true},
		{"mail.example.com", "", false},
	} {
		if got := MatchMX(tc.pattern, tc.host); got != tc.want {
			t.Errorf("MatchMX(%q, %q) = %v, want %v", tc.pattern, tc.host, got, tc.want)
		}
	}
	p := &Policy{MX: []string{"a.example", "*.b.example"}}
	if !p.Matches("x.b.example") || !p.Matches("A.example") || p.Matches("b.example") {
		t.Error("Policy.Matches disagrees with MatchMX")
	}
}

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		txt     string
		sts, ok bool
		id      string
	}{
		{"v=STSv1; id=20160831085700Z;", true, true, "20160831085700Z"},
		{"v=STSv1;id=abc", true, true, "abc"},
		{"v=STSv1; id=abc; ext=value", true, true, "abc"},
		{"v=STSv1; ext=value; id=abc ;", true, true, "abc"},
		{"v=STSv1; id=first; id=second", true, true, "first"},
		{"v=STSv1", true, false, ""},
		{"v=STSv1; id=", true, false, ""},
		{"v=STSv1; id=has-dash", true, false, ""},
		{"v=STSv1; id=" + strings.Repeat("a", 33), true, false, ""},
		{"v=STSv1; id=abc; bad field", true, false, ""},
		{"v=spf1 -all", false, true, ""},
		{" v=STSv1; id=abc", false, true, ""},
		{"v=STSv10; id=abc", false, true, ""},
	} {
		r, sts, err := ParseRecord(tc.txt)
		if sts != tc.sts || (err == nil) != tc.ok || r.ID != tc.id {
			t.Errorf("%q: %+v sts=%v err=%v; want sts=%v ok=%v id=%q", tc.txt, r, sts, err, tc.sts, tc.ok, tc.id)
		}
	}
}

// FuzzParsePolicy: any input parses or fails with ErrSyntax, never
// panics, and what parses is within the RFC's bounds and parses back.
func FuzzParsePolicy(f *testing.F) {
	f.Add("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n")
	f.Fuzz(func(t *testing.T, text string) {
		p, err := ParsePolicy(text)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v is not ErrSyntax", err)
			}
			return
		}
		if p.MaxAge < 0 || p.MaxAge > MaxMaxAge || (p.Mode != ModeNone && len(p.MX) == 0) {
			t.Fatalf("out of bounds: %+v", p)
		}
		again, err := ParsePolicy(strings.Join(p.Lines, "\n"))
		if err != nil || again.Mode != p.Mode || again.MaxAge != p.MaxAge || !slices.Equal(again.MX, p.MX) {
			t.Fatalf("%q does not parse back: %+v %v", p.Lines, again, err)
		}
	})
}

// FuzzMatchMX: a pattern matches only hosts that end in what follows its
// wildcard, with exactly one label more, or the same name.
func FuzzMatchMX(f *testing.F) {
	f.Add("*.example.net", "mx1.example.net")
	f.Fuzz(func(t *testing.T, pattern, host string) {
		if !MatchMX(pattern, host) {
			return
		}
		h := strings.ToLower(strings.TrimSuffix(host, "."))
		if rest, ok := strings.CutPrefix(pattern, "*."); ok {
			label, parent, _ := strings.Cut(h, ".")
			if parent != rest || label == "" || strings.Contains(label, ".") {
				t.Fatalf("%q matched %q", pattern, host)
			}
			return
		}
		if h != pattern {
			t.Fatalf("%q matched %q", pattern, host)
		}
	})
}
