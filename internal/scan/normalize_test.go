package scan

import (
	"strings"
	"testing"
)

// normalizeSpace must give what the plain Unicode-aware expression gives.
func TestNormalizeSpace(t *testing.T) {
	for _, in := range []string{
		"", " ", "a", "  Verify\tYOUR\r\n account  ", "x\v\fy", "one two\n",
		"verify\u00a0your account", "ÜBER Straße", "\u0085lead", "tail\u2003",
		"Click HERE to verify", "mixed ascii then é",
	} {
		want := strings.ToLower(strings.Join(strings.Fields(in), " "))
		if got := normalizeSpace(in); got != want {
			t.Errorf("normalizeSpace(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzNormalizeSpace(f *testing.F) {
	f.Add("  Verify\tYOUR\r\n account  ")
	f.Add("verify\u00a0your account")
	f.Fuzz(func(t *testing.T, in string) {
		want := strings.ToLower(strings.Join(strings.Fields(in), " "))
		if got := normalizeSpace(in); got != want {
			t.Errorf("normalizeSpace(%q) = %q, want %q", in, got, want)
		}
	})
}

// naivePhrases is what phrases computes, the plain way.
func naivePhrases(text string) []string {
	t := strings.ToLower(strings.Join(strings.Fields(text), " "))
	var out []string
	for _, ph := range phishingPhrases {
		if strings.Contains(t, ph) {
			out = append(out, ph)
		}
	}
	return out
}

func TestPhrasesMatchesNaive(t *testing.T) {
	for _, in := range []string{
		"", "Please VERIFY   your\naccount today", "reverify your accounts", "click here to verify and confirm your password",
		"wire transfer urgently" + strings.Repeat(" x", 1000) + " your mailbox is full",
		"verify\u00a0your account", "ve", "verify your accoun",
	} {
		if got, want := phrases(in), naivePhrases(in); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("phrases(%.40q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzPhrases(f *testing.F) {
	f.Add("Please VERIFY   your\naccount today")
	f.Add("click here to unlock your mailbox is full")
	f.Fuzz(func(t *testing.T, in string) {
		if got, want := phrases(in), naivePhrases(in); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("phrases(%q) = %q, want %q", in, got, want)
		}
	})
}
