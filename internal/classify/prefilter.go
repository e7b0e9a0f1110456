package classify

import (
	"regexp/syntax"
	"strings"
	"unicode"
)

// Most rules cannot match most replies, and an unanchored, case-folded RE2
// scan of every rule over every reply is what made Classify slow (about
// 160 µs a reply over the table with 40 rules). A rule's text patterns
// usually cannot match unless the reply contains one of a few words: the
// prefilter finds those words in the patterns' syntax, and Classify runs a
// rule's regexp only when the lowercased reply contains one of them. It is
// exact: a pattern it cannot reduce to required words gets no prefilter.

// requiredLiterals returns lowercase strings one of which every match of the
// pattern contains, or nil when there is no such set (a pattern that can
// match without any literal, such as `\d+` or `a?`).
func requiredLiterals(pattern string) []string {
	re, err := syntax.Parse(pattern, syntax.Perl|syntax.FoldCase)
	if err != nil {
		return nil
	}
	lits := required(re.Simplify())
	for _, l := range lits {
		if l == "" {
			return nil
		}
	}
	return lits
}

// required is requiredLiterals on a parsed expression.
func required(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		return []string{strings.ToLower(string(re.Rune))}
	case syntax.OpCapture:
		return required(re.Sub[0])
	case syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpConcat:
		return requiredConcat(re.Sub)
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			l := required(sub)
			if l == nil {
				return nil
			}
			out = append(out, l...)
		}
		return out
	}
	return nil
}

// requiredConcat picks, among the parts of a concatenation, the set whose
// shortest word is longest: the most selective one. Adjacent literals are
// joined first ("a" "b" → "ab").
func requiredConcat(subs []*syntax.Regexp) []string {
	var best []string
	bestLen := 0
	consider := func(l []string) {
		if l == nil {
			return
		}
		n := len(l[0])
		for _, s := range l {
			n = min(n, len(s))
		}
		if n > bestLen {
			best, bestLen = l, n
		}
	}
	var run []rune
	flush := func() {
		if len(run) > 0 {
			consider([]string{strings.ToLower(string(run))})
			run = nil
		}
	}
	for _, sub := range subs {
		if sub.Op == syntax.OpLiteral {
			run = append(run, sub.Rune...)
			continue
		}
		flush()
		consider(required(sub))
	}
	flush()
	return best
}

// isASCII reports whether s is ASCII. Only then is "the lowercased reply
// contains the word" exactly what case folding means (RE2 folds 's' with
// U+017F, which strings.ToLower keeps): other replies skip the prefilter.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= unicode.MaxASCII {
			return false
		}
	}
	return true
}
