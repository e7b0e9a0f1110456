// Package classify turns a receiver's reply, or an error on the way to it,
// into what the delivery worker does next: delivered, deferred (retry on the
// schedule), blocked-ip (take the source IP out, for the whole pool or for
// one provider, and retry at once from another) or permanent (bounce).
//
// The knowledge is data: rules.toml, embedded, holds the rules and the table
// of providers recognised by MX host; users add rules of the same form, which
// are tried first so that they can override the built-in ones. When no rule
// matches, the reply code decides (RFC 5321 §4.2.1: 4yz transient, 5yz
// permanent) and the enhanced code (RFC 3463) gives the category. Errors
// that are not SMTP replies are temporary: unknown means retry.
package classify

import (
	_ "embed"
	"fmt"
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

//go:embed rules.toml
var builtinRules string

// Classifier classifies replies. It is immutable and safe for concurrent
// use.
type Classifier struct {
	rules     []*compiled
	providers []providerDef
}

// New returns a classifier with the extra rules first, then the built-in
// ones.
func New(extra []Rule) (*Classifier, error) {
	var f ruleFile
	if err := decodeStrict(strings.NewReader(builtinRules), &f); err != nil {
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

// Classify tells how reply, received at stage from the MX host mx, is
// treated. reply is "CODE ENH text" (a multi-line reply joined by spaces) or
// the text of an error ("dial tcp …: connection refused", "i/o timeout").
// A 2xx or 3xx is VerdictDelivered: the step succeeded. The scope of a
// provider-wide block is c.Provider(mx), empty when mx is.
func (c *Classifier) Classify(stage, mx, reply string) queue.Classification {
	r := newReply(reply)
	if r.code >= 200 && r.code < 400 {
		// 2yz completes the step; 3yz (354 to DATA) lets it go on.
		return queue.Classification{Verdict: queue.VerdictDelivered, Rule: "success"}
	}
	if r.code != 0 && (r.code < 200 || r.code >= 600) {
		// Not a reply RFC 5321 §4.2 allows: the server is broken or this
		// is not SMTP. Temporary, like any unknown error.
		return queue.Classification{Verdict: queue.VerdictDeferred, Category: "protocol", Rule: "invalid-reply"}
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
		return out
	}
	switch {
	case r.code == 0:
		return queue.Classification{Verdict: queue.VerdictDeferred, Category: "other", Rule: "default-error"}
	case r.code >= 500:
		return queue.Classification{Verdict: queue.VerdictPermanent, Category: enhCategory(r), Rule: "default-5xx"}
	default:
		return queue.Classification{Verdict: queue.VerdictDeferred, Category: enhCategory(r), Rule: "default-4xx"}
	}
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

// enhCategory is the category an enhanced status code's subject and detail
// give (RFC 3463 §3), for replies no rule knows.
func enhCategory(r reply) string {
	if !r.hasEnh {
		return "other"
	}
	subject, detail := r.enh[1], r.enh[2]
	switch subject {
	case 1: // addressing
		switch detail {
		case 2, 10: // bad destination system; null MX (RFC 7505 §4.2)
			return "bad-domain"
		case 7, 8: // the sender's mailbox or system
			return "policy"
		}
		return "bad-mailbox"
	case 2: // mailbox
		switch detail {
		case 1: // disabled
			return "bad-mailbox"
		case 3: // message longer than the mailbox accepts
			return "other"
		}
		return "quota"
	case 4: // network and routing
		switch detail {
		case 4: // unable to route
			return "bad-domain"
		case 7: // delivery time expired
			return "expired"
		}
		return "network"
	case 5: // mail delivery protocol
		return "protocol"
	case 7: // security or policy
		switch {
		case detail == 13: // user account disabled
			return "bad-mailbox"
		case detail >= 20 && detail <= 26 || detail == 29: // RFC 7372, RFC 8617
			return "auth"
		}
		return "policy"
	}
	return "other"
}

// reply is a parsed reply or error text.
type reply struct {
	code   int    // 0: not an SMTP reply
	enh    [3]int // class, subject, detail, whatever the code's class
	hasEnh bool
	text   string // the whole reply, white space collapsed
}

// newReply parses s with its white space collapsed first, so that a reply
// joined from several lines, or with tabs, reads like a one-line one.
func newReply(s string) reply {
	r := reply{text: strings.Join(strings.Fields(s), " ")}
	p, ok := smtpreply.Parse(r.text)
	if !ok {
		return r
	}
	r.code = p.Code
	if p.Enhanced != "" {
		for i, sub := range strings.Split(p.Enhanced, ".") {
			r.enh[i], _ = strconv.Atoi(sub) // one to three digits: no error
		}
		r.hasEnh = true
	}
	return r
}
