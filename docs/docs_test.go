package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

const readme = "../README.md"

// TestREADMEFirstScreen: the first 25 lines hold the two commands that
// work on a fresh machine, each with the sentence that says what it does.
func TestREADMEFirstScreen(t *testing.T) {
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	screen := lines[:min(25, len(lines))]
	for _, want := range []struct{ sentence, command string }{
		{"Run it (a self-contained loopback demo", "go run ./cmd/sendpool sandbox"},
		{"Test it (checks gofmt, go vet and `go mod tidy`", "./scripts/test"},
	} {
		sentence, command := -1, -1
		for i, l := range screen {
			if strings.HasPrefix(l, want.sentence) && sentence < 0 {
				sentence = i
			}
			if l == want.command && command < 0 {
				command = i
			}
		}
		if sentence < 0 || command < 0 || command < sentence {
			t.Errorf("the first 25 lines lack %q on a line of its own after %q", want.command, want.sentence)
		}
	}
}

// TestREADMEParagraphs: no paragraph of the README is over 400
// characters; the detail belongs in docs/.
func TestREADMEParagraphs(t *testing.T) {
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paragraphs(string(b)) {
		if n := utf8.RuneCountInString(p); n > 400 {
			t.Errorf("a README paragraph of %d characters (at most 400; move the detail to docs/): %.80q…", n, p)
		}
	}
}

// TestParagraphs: what counts as a paragraph.
func TestParagraphs(t *testing.T) {
	got := paragraphs("# Title\n\none\ntwo\n\n```sh\ncode\n\nmore code\n```\n- item a\n  still a\n- item b\n\n| x | y |\n|---|---|\n")
	want := []string{"# Title", "one two", "- item a still a", "- item b", "| x | y |", "|---|---|"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("paragraphs = %q, want %q", got, want)
	}
}

// paragraphs splits Markdown into its paragraphs of prose: runs of lines
// between blank lines, a list item or a table row each its own, fenced
// code left out.
func paragraphs(md string) []string {
	var out []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.Join(cur, " "))
			cur = nil
		}
	}
	fenced := false
	for _, l := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(l)
		if strings.HasPrefix(trimmed, "```") {
			flush()
			fenced = !fenced
			continue
		}
		switch {
		case fenced:
		case trimmed == "":
			flush()
		case strings.HasPrefix(l, "- ") || strings.HasPrefix(l, "* ") || strings.HasPrefix(l, "|") ||
			strings.HasPrefix(l, "#") || listNumber.MatchString(l):
			flush()
			cur = append(cur, trimmed)
		default:
			cur = append(cur, trimmed)
		}
	}
	flush()
	return out
}

var (
	listNumber = regexp.MustCompile(`^\d+\. `)
	linkRE     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	headingRE  = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
)

// TestLinks: every relative link in the README and the pages here leads
// to a file that exists, and to a heading of it when it names one.
func TestLinks(t *testing.T) {
	pages, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range append([]string{readme}, pages...) {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range linkRE.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), file)
			}
			text, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%s: link %s: %v", page, target, err)
				continue
			}
			if frag != "" && !hasAnchor(string(text), frag) {
				t.Errorf("%s: link %s: %s has no such heading", page, target, path)
			}
		}
	}
}

// hasAnchor reports whether md has a heading GitHub gives the anchor frag.
func hasAnchor(md, frag string) bool {
	for _, h := range headingRE.FindAllStringSubmatch(md, -1) {
		if anchor(h[1]) == frag {
			return true
		}
	}
	return false
}

// anchor is GitHub's fragment for a heading: lower case, punctuation but
// - and _ dropped, spaces as -.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}
