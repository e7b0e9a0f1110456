// Package classify turns a receiver's reply, or an error on the way to it,
// into what the delivery worker does next: delivered, deferred (retry on the
// schedule), blocked-ip (take the source IP out, for the whole pool or for
// one provider, and retry at once from another) or permanent (bounce).
//
// The knowledge is data: rules/*.toml, embedded, hold the rules, each with
// the source its wording was taken from, and the table of providers
// recognised by MX host; users add rules of the same form, which are tried
// first so that they can override the built-in ones. When no rule matches,
// the reply code decides (RFC 5321 §4.2.1: 4yz transient, 5yz permanent)
// and the enhanced code (RFC 3463) gives the category, or a block of the
// IP when a policy refusal is worded about the client (fallback.go).
// Errors that are not SMTP replies are temporary: unknown means retry.
package classify

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"sendpool/internal/queue"
	"sendpool/internal/smtpreply"
)

// The stages of an SMTP transaction a reply can come from. StageData is the
// reply to the DATA command, StageEOD the reply after the final dot.
const (
	StageConnect  = "connect"
	StageGreeting = "greeting"
	StageEHLO     = "ehlo"
	StageSTARTTLS = "starttls"
	StageMail     = "mail"
	StageRcpt     = "rcpt"
	StageData     = "data"
	StageEOD      = "eod"
)

// Stages returns the known stages in transaction order.
func Stages() []string {
	return []string{StageConnect, StageGreeting, StageEHLO, StageSTARTTLS, StageMail, StageRcpt, StageData, StageEOD}
}

// The built-in rules, read in the order of their file names: the first
// file holds the provider table, the rest go from the most specific rules to
// the most general (see its header).
//
//go:embed rules/*.toml
var builtinRules embed.FS

// Classifier classifies replies. It is immutable and safe for concurrent
// use.
type Classifier struct {
	rules     []*compiled
	providers []providerDef
}

// New returns a classifier with the extra rules first, then the built-in
// ones.
func New(extra []Rule) (*Classifier, error) {
	f, err := loadBuiltin()
	if err != nil {
		return nil, fmt.Errorf("classify: built-in rules: %w", err)
	}
	c := &Classifier{providers: f.Provider}
	for i, r := range extra {
		cr, err := compile(r)
		if err != nil {
			return nil, fmt.Errorf("classify: rule %d: %w", i+1, err)
		}
		c.rules = append(c.rules, cr)
	}
	for _, r := range f.Rule {
		cr, err := compile(r)
		if err != nil {
			return nil, fmt.Errorf("classify: built-in rule: %w", err)
		}
		c.rules = append(c.rules, cr)
	}
	return c, nil
}

// loadBuiltin reads the embedded rule files in name order into one.
func loadBuiltin() (ruleFile, error) {
	var all ruleFile
	names, err := fs.Glob(builtinRules, "rules/*.toml")
	if err != nil {
		return all, err
	}
	slices.Sort(names)
	for _, name := range names {
		b, err := builtinRules.ReadFile(name)
		if err != nil {
			return all, err
		}
		var f ruleFile
		if err := decodeStrict(bytes.NewReader(b), &f); err != nil {
			return all, fmt.Errorf("%s: %w", name, err)
		}
		all.Provider = append(all.Provider, f.Provider...)
		all.Rule = append(all.Rule, f.Rule...)
	}
	return all, nil
}

// Classify tells how reply, received at stage from the MX host mx, is
// treated. reply is "CODE ENH text", a multi-line reply joined by spaces or
// line breaks (the last line's code counts, see smtpreply.Final), or the
// text of an error ("dial tcp …: connection refused", "i/o timeout"). A 2xx
// or 3xx is VerdictDelivered: the step succeeded. The scope of a
// provider-wide block is c.Provider(mx), empty when mx is.
func (c *Classifier) Classify(stage, mx, reply string) queue.Classification {
	out, _ := c.Explain(stage, mx, reply)
	return out
}

// Explain is Classify, and also returns the rule that decided: a user's or
// built-in rule as written, or one standing for the code-based fallbacks
// (named as in the classification, with its Source).
func (c *Classifier) Explain(stage, mx, reply string) (queue.Classification, Rule) {
	r := newReply(reply)
	if r.code >= 200 && r.code < 400 {
		// 2yz completes the step; 3yz (354 to DATA) lets it go on.
		return builtin(queue.Classification{Verdict: queue.VerdictDelivered, Rule: "success"},
			"RFC 5321 §4.2.1 (2yz positive completion, 3yz positive intermediate)")
	}
	if r.code != 0 && (r.code < 200 || r.code >= 600) {
		// Not a reply RFC 5321 §4.2 allows: the server is broken or this
		// is not SMTP. Temporary, like any unknown error.
		return builtin(queue.Classification{Verdict: queue.VerdictDeferred, Category: "protocol", Rule: "invalid-reply"},
			"RFC 5321 §4.2.1 (reply codes are 2yz to 5yz); unknown means temporary")
	}
	provider := c.Provider(mx)
	for _, rule := range c.rules {
		if !rule.match(stage, provider, &r) {
			continue
		}
		v := rule.verdict
		if v == "" {
			v = byCode(r.code)
		}
		out := queue.Classification{Verdict: v, Category: rule.Category, Rule: rule.Name}
		if v == queue.VerdictBlockedIP {
			switch rule.Scope {
			case "pool":
				out.Scope = "pool"
			case "provider":
				out.Scope = provider
			default:
				out.Scope = rule.Scope
			}
		}
		return out, rule.Rule
	}
	if out, rule, ok := enhanced(stage, &r); ok {
		return out, rule
	}
	switch {
	case r.code == 0:
		return builtin(queue.Classification{Verdict: queue.VerdictDeferred, Category: "other", Rule: "default-error"},
			"not an SMTP reply and no rule knows it: unknown means temporary")
	case r.code >= 500:
		return builtin(queue.Classification{Verdict: queue.VerdictPermanent, Category: "other", Rule: "default-5xx"},
			"RFC 5321 §4.2.1 (5yz permanent negative completion)")
	default:
		return builtin(queue.Classification{Verdict: queue.VerdictDeferred, Category: "other", Rule: "default-4xx"},
			"RFC 5321 §4.2.1 (4yz transient negative completion)")
	}
}

// builtin returns a classification made in code with the Rule that stands
// for it.
func builtin(c queue.Classification, source string) (queue.Classification, Rule) {
	return c, Rule{Name: c.Rule, Verdict: string(c.Verdict), Category: c.Category, Source: source}
}

// byCode is the verdict the reply code alone gives (RFC 5321 §4.2.1).
func byCode(code int) queue.Verdict {
	switch {
	case code >= 500:
		return queue.VerdictPermanent
	case code >= 200 && code < 400:
		return queue.VerdictDelivered
	}
	return queue.VerdictDeferred
}

// reply is a parsed reply or error text.
type reply struct {
	code   int    // 0: not an SMTP reply
	enh    [3]int // class, subject, detail, whatever the code's class
	hasEnh bool
	// text is what the rules' patterns read: "CODE ENH text" with the
	// repeated codes of a multi-line reply taken out and white space
	// collapsed, or an error's text.
	text  string
	lower string // text lowercased, for the prefilter
	ascii bool   // text is ASCII: the prefilter applies
}

// newReply parses s as one reply, perhaps of several lines (see
// smtpreply.Final), or as an error's text.
func newReply(s string) reply {
	var r reply
	p, ok := smtpreply.Final(s)
	if !ok {
		r.text = strings.Join(strings.Fields(s), " ")
	} else {
		r.code = p.Code
		parts := []string{fmt.Sprintf("%03d", p.Code)}
		if p.Enhanced != "" {
			for i, sub := range strings.Split(p.Enhanced, ".") {
				r.enh[i], _ = strconv.Atoi(sub) // one to three digits: no error
			}
			r.hasEnh = true
			parts = append(parts, p.Enhanced)
		}
		if p.Text != "" {
			parts = append(parts, p.Text)
		}
		r.text = strings.Join(parts, " ")
	}
	r.lower = strings.ToLower(r.text)
	r.ascii = isASCII(r.text)
	return r
}
