package classify

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"sendpool/internal/queue"
)

// Rule is one line of classification data, as written in rules/*.toml or a
// user's rule file ([[rule]] tables). Every condition that is set must hold;
// an unset condition matches anything. The first matching rule wins.
type Rule struct {
	Name string `toml:"name"`
	// Stages limits the rule to these stages (see the Stage constants).
	Stages List `toml:"stages"`
	// Providers limits the rule to MX hosts of these providers (as named by
	// Classifier.Provider).
	Providers List `toml:"providers"`
	// Codes are reply-code patterns: "550", "55x", "5xx", or "error" for an
	// error that is not an SMTP reply (refused, timeout, TLS…).
	Codes List `toml:"codes"`
	// Enhanced are RFC 3463 enhanced-code patterns; each of the three parts
	// is a number, "x" (any) or a range "606-649": "5.1.1", "x.7.26",
	// "5.7.606-649". A reply without an enhanced code never matches them.
	Enhanced List `toml:"enhanced"`
	// Text are regular expressions (RE2, case-insensitive), any of which
	// must match the whole reply, code included, with runs of white space
	// collapsed to one space.
	Text List `toml:"text"`
	// Verdict is "delivered", "deferred", "blocked-ip" or "permanent";
	// empty: from the code (4xx and errors deferred, 5xx permanent).
	Verdict string `toml:"verdict"`
	// Category is one of Categories; "blocked-ip" when empty on a
	// blocked-ip rule.
	Category string `toml:"category"`
	// Scope of a blocked-ip verdict: "pool" (every destination), "provider"
	// (the provider of the MX host replying) or a fixed provider name.
	Scope string `toml:"scope"`
	// Source says where the rule's wording comes from: a provider's
	// postmaster page, an RFC, a public rule set or bounce corpus. Every
	// built-in rule has one; a user's rule may leave it empty.
	Source string `toml:"source"`
}

// List is a list of strings that a rule file may also write as one string.
type List []string

// UnmarshalTOML accepts "a" as well as ["a", "b"].
func (l *List) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*l = List{v}
		return nil
	case []any:
		out := make(List, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("list element %v is not a string", e)
			}
			out = append(out, s)
		}
		*l = out
		return nil
	}
	return fmt.Errorf("want a string or a list of strings, not %T", v)
}

// Categories returns the known categories.
func Categories() []string {
	return []string{
		"bad-mailbox", "bad-domain", "quota", "policy", "spam-content", "virus",
		"rate-limit", "greylist", "blocked-ip", "auth", "dns", "network",
		"protocol", "tls", "expired", "other",
	}
}

// ruleFile is the shape of a rule file; the embedded one also holds the
// provider table.
type ruleFile struct {
	Provider []providerDef `toml:"provider"`
	Rule     []Rule        `toml:"rule"`
}

// LoadRules reads a user's rule file: [[rule]] tables only. Unknown keys and
// invalid rules are errors.
func LoadRules(r io.Reader) ([]Rule, error) {
	var f struct {
		Rule []Rule `toml:"rule"`
	}
	if err := decodeStrict(r, &f); err != nil {
		return nil, err
	}
	for i := range f.Rule {
		if _, err := compile(f.Rule[i]); err != nil {
			return nil, fmt.Errorf("rule %d: %w", i+1, err)
		}
	}
	return f.Rule, nil
}

func decodeStrict(r io.Reader, v any) error {
	md, err := toml.NewDecoder(r).Decode(v)
	if err != nil {
		return err
	}
	if u := md.Undecoded(); len(u) > 0 {
		keys := make([]string, len(u))
		for i, k := range u {
			keys[i] = k.String()
		}
		return fmt.Errorf("unknown keys: %s", strings.Join(keys, ", "))
	}
	return nil
}

// compiled is a validated rule ready to match.
type compiled struct {
	Rule
	verdict queue.Verdict
	codes   []codePattern
	enh     []enhPattern
	text    *regexp.Regexp // nil: any text
	// lits are words one of which the lowercased reply must contain for
	// text to match (prefilter.go); nil: always run text.
	lits []string
}

func compile(r Rule) (*compiled, error) {
	if r.Name == "" {
		return nil, errors.New("rule has no name")
	}
	c := &compiled{Rule: r, verdict: queue.Verdict(r.Verdict)}
	fail := func(format string, a ...any) (*compiled, error) {
		return nil, fmt.Errorf("%s: %s", r.Name, fmt.Sprintf(format, a...))
	}
	switch c.verdict {
	case "", queue.VerdictDelivered, queue.VerdictDeferred, queue.VerdictPermanent:
		if r.Scope != "" {
			return fail("scope %q is only for verdict blocked-ip", r.Scope)
		}
	case queue.VerdictBlockedIP:
		if r.Scope == "" {
			return fail("verdict blocked-ip needs a scope (pool, provider or a provider's name)")
		}
		if c.Category == "" {
			c.Category = "blocked-ip"
		}
	default:
		return fail("unknown verdict %q", r.Verdict)
	}
	if !slices.Contains(Categories(), c.Category) {
		return fail("unknown category %q (one of %s)", c.Category, strings.Join(Categories(), ", "))
	}
	for _, s := range r.Stages {
		if !slices.Contains(Stages(), strings.ToLower(s)) {
			return fail("unknown stage %q", s)
		}
	}
	for _, s := range r.Codes {
		p, err := parseCodePattern(s)
		if err != nil {
			return fail("%v", err)
		}
		c.codes = append(c.codes, p)
	}
	for _, s := range r.Enhanced {
		p, err := parseEnhPattern(s)
		if err != nil {
			return fail("%v", err)
		}
		c.enh = append(c.enh, p)
	}
	// Each pattern is checked alone for a precise error, then all are
	// joined into one alternation so that a reply is scanned once per rule.
	alts := make([]string, len(r.Text))
	prefilter := true
	for i, s := range r.Text {
		if _, err := regexp.Compile(s); err != nil {
			return fail("text: %v", err)
		}
		alts[i] = "(?:" + s + ")"
		l := requiredLiterals(s)
		prefilter = prefilter && l != nil
		c.lits = append(c.lits, l...)
	}
	if !prefilter {
		c.lits = nil
	}
	if len(alts) > 0 {
		re, err := regexp.Compile("(?i)" + strings.Join(alts, "|"))
		if err != nil {
			return fail("text: %v", err)
		}
		c.text = re
	}
	return c, nil
}

// match reports whether the rule applies to a reply at stage from provider.
func (c *compiled) match(stage, provider string, r *reply) bool {
	if len(c.Stages) > 0 && !slices.ContainsFunc(c.Stages, func(s string) bool { return strings.EqualFold(s, stage) }) {
		return false
	}
	if len(c.Providers) > 0 && !slices.Contains(c.Providers, provider) {
		return false
	}
	if len(c.codes) > 0 && !slices.ContainsFunc(c.codes, func(p codePattern) bool { return p.match(r.code) }) {
		return false
	}
	if len(c.enh) > 0 && (!r.hasEnh || !slices.ContainsFunc(c.enh, func(p enhPattern) bool { return p.match(r.enh) })) {
		return false
	}
	if c.text == nil {
		return true
	}
	if c.lits != nil && r.ascii && !slices.ContainsFunc(c.lits, func(l string) bool { return strings.Contains(r.lower, l) }) {
		return false
	}
	return c.text.MatchString(r.text)
}

// codePattern matches a reply code: three characters, each a digit or 'x';
// code 0 stands for an error that is not an SMTP reply ("error").
type codePattern struct {
	err    bool
	digits [3]byte // 'x' matches any digit
}

func parseCodePattern(s string) (codePattern, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "error" {
		return codePattern{err: true}, nil
	}
	if len(s) != 3 {
		return codePattern{}, fmt.Errorf("code pattern %q: want e.g. 550, 5xx or error", s)
	}
	var p codePattern
	for i := range 3 {
		if s[i] != 'x' && (s[i] < '0' || s[i] > '9') {
			return codePattern{}, fmt.Errorf("code pattern %q: want e.g. 550, 5xx or error", s)
		}
		p.digits[i] = s[i]
	}
	return p, nil
}

func (p codePattern) match(code int) bool {
	if code == 0 {
		return p.err
	}
	if p.err {
		return false
	}
	d := strconv.Itoa(code)
	for i := range 3 {
		if p.digits[i] != 'x' && p.digits[i] != d[i] {
			return false
		}
	}
	return true
}

// enhPattern matches an enhanced status code part by part: [lo, hi] ranges,
// lo = -1 for any.
type enhPattern [3][2]int

func parseEnhPattern(s string) (enhPattern, error) {
	var p enhPattern
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), ".")
	if len(parts) != 3 {
		return p, fmt.Errorf("enhanced pattern %q: want e.g. 5.1.1, x.7.26 or 5.7.606-649", s)
	}
	for i, part := range parts {
		if part == "x" || part == "*" {
			p[i] = [2]int{-1, -1}
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return p, fmt.Errorf("enhanced pattern %q: bad part %q", s, part)
		}
		p[i] = [2]int{a, b}
	}
	return p, nil
}

func (p enhPattern) match(e [3]int) bool {
	for i := range 3 {
		if p[i][0] >= 0 && (e[i] < p[i][0] || e[i] > p[i][1]) {
			return false
		}
	}
	return true
}
