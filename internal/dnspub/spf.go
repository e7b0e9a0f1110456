package dnspub

import (
	"slices"
	"strings"
)

// isSPF reports whether a TXT value is an SPF record (RFC 7208 §4.5:
// "v=spf1" followed by a space or nothing).
func isSPF(v string) bool {
	l := strings.ToLower(v)
	return l == "v=spf1" || strings.HasPrefix(l, "v=spf1 ")
}

// spfTerms are the terms of our SPF record that authorise the pool: every
// term but the version and the "all" (RFC 7208 §5.1), which is the
// domain's own policy to keep.
func spfTerms(record string) []string {
	var out []string
	for _, t := range strings.Fields(record)[1:] {
		if !isAll(t) {
			out = append(out, t)
		}
	}
	return out
}

// isAll reports whether t is an "all" mechanism with any qualifier.
func isAll(t string) bool {
	return strings.EqualFold(strings.TrimLeft(t, "+-~?"), "all")
}

// hasTerms reports whether record already holds every term.
func hasTerms(record string, terms []string) bool {
	have := strings.Fields(strings.ToLower(record))
	for _, t := range terms {
		if !slices.Contains(have, strings.ToLower(t)) {
			return false
		}
	}
	return true
}

// mergeSPF adds terms to an existing SPF record, once each, before its
// "all" term: mechanisms are evaluated left to right and evaluation stops
// at "all" (RFC 7208 §4.6.2, §5.1), so a term after it would never count.
// Without "all" they go before the first modifier (redirect=, exp=), for
// readability; modifiers may stand anywhere (§6).
func mergeSPF(record string, terms []string) string {
	fields := strings.Fields(record)
	var add []string
	for _, t := range terms {
		if !slices.ContainsFunc(fields, func(f string) bool { return strings.EqualFold(f, t) }) {
			add = append(add, t)
		}
	}
	at := len(fields)
	for i, f := range fields[1:] {
		if isAll(f) || strings.Contains(f, "=") {
			at = i + 1
			break
		}
	}
	out := append(slices.Clone(fields[:at]), add...)
	return strings.Join(append(out, fields[at:]...), " ")
}

// unmergeSPF removes terms from record, leaving the rest as it was.
func unmergeSPF(record string, terms []string) string {
	var out []string
	for _, f := range strings.Fields(record) {
		if !slices.ContainsFunc(terms, func(t string) bool { return strings.EqualFold(f, t) }) {
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}
