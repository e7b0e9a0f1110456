package classify

import (
	"fmt"
	"regexp"

	"sendpool/internal/queue"
)

// When no rule knows a reply's wording, its enhanced status code (RFC 3463)
// still says what the reply is about: the subject (the middle number) names
// the part of the delivery that failed, and a few details, sometimes with
// the wording, narrow it down. The reply code keeps deciding between
// temporary and permanent (RFC 5321 §4.2.1); only a security or policy
// refusal worded about the client, its IP address or its reverse DNS becomes
// blocked-ip, since it is about the connecting host and not the message
// (RFC 3463 §3.8: "X.7.1 Delivery not authorized, message refused" covers
// both, and the wording tells which).
//
// Each row names itself "enhanced-" + the reply's class + its pattern, e.g.
// "enhanced-5.7.x-client" or "enhanced-4.4.7", so that `sendpool classify`
// shows which row decided. The first row that matches wins.
var enhancedFallback = []fallbackRow{
	// Security or policy status, RFC 3463 §3.8.
	{pattern: "7.x-auth", subject: 7, detail: span{20, 29}, category: "auth",
		source: "RFC 7372 §3 (X.7.20 to X.7.26: DKIM, SPF, sender authentication), RFC 8617 §4 (X.7.29: ARC)"},
	{pattern: "7.x-client", subject: 7, detail: anyDetail, text: clientWords, blocked: true, category: "blocked-ip",
		source: "RFC 3463 §3.8 (X.7.1 delivery not authorized), worded about the client host, its IP or reverse DNS"},
	{pattern: "7.13", subject: 7, detail: span{13, 13}, category: "bad-mailbox",
		source: "RFC 5248 registry: X.7.13 user account disabled"},
	{pattern: "7.x", subject: 7, detail: anyDetail, category: "policy",
		source: "RFC 3463 §3.8 (security or policy status)"},

	// Addressing status, RFC 3463 §3.2. At MAIL FROM an address problem is
	// the sender's.
	{pattern: "1.x-sender", subject: 1, detail: anyDetail, stage: StageMail, category: "policy",
		source: "RFC 3463 §3.2, at MAIL FROM (RFC 5321 §3.3): the sender's address"},
	{pattern: "1.x-sender", subject: 1, detail: span{7, 8}, category: "policy",
		source: "RFC 3463 §3.2 (X.1.7 bad sender's mailbox syntax, X.1.8 bad sender's system address)"},
	{pattern: "1.x-domain", subject: 1, detail: span{2, 2}, category: "bad-domain",
		source: "RFC 3463 §3.2 (X.1.2 bad destination system address)"},
	{pattern: "1.x-domain", subject: 1, detail: span{10, 10}, category: "bad-domain",
		source: "RFC 7505 §4.2 (X.1.10 recipient address has null MX)"},
	{pattern: "1.x", subject: 1, detail: anyDetail, category: "bad-mailbox",
		source: "RFC 3463 §3.2 (addressing status: X.1.1 bad mailbox, X.1.6 moved, …)"},

	// Mailbox status, RFC 3463 §3.3.
	{pattern: "2.1", subject: 2, detail: span{1, 1}, category: "bad-mailbox",
		source: "RFC 3463 §3.3 (X.2.1 mailbox disabled, not accepting messages)"},
	{pattern: "2.3", subject: 2, detail: span{3, 3}, category: "other",
		source: "RFC 3463 §3.3 (X.2.3 message length exceeds administrative limit)"},
	{pattern: "2.x", subject: 2, detail: anyDetail, category: "quota",
		source: "RFC 3463 §3.3 (X.2.2 mailbox full, X.2.0 other mailbox status)"},

	// Mail system status, RFC 3463 §3.4: the receiver's own trouble.
	{pattern: "3.x", subject: 3, detail: anyDetail, category: "other",
		source: "RFC 3463 §3.4 (mail system status)"},

	// Network and routing status, RFC 3463 §3.5.
	{pattern: "4.4", subject: 4, detail: span{4, 4}, category: "bad-domain",
		source: "RFC 3463 §3.5 (X.4.4 unable to route)"},
	{pattern: "4.7", subject: 4, detail: span{7, 7}, category: "expired",
		source: "RFC 3463 §3.5 (X.4.7 delivery time expired)"},
	{pattern: "4.x", subject: 4, detail: anyDetail, category: "network",
		source: "RFC 3463 §3.5 (network and routing status)"},

	// Mail delivery protocol status, RFC 3463 §3.6.
	{pattern: "5.x", subject: 5, detail: anyDetail, category: "protocol",
		source: "RFC 3463 §3.6 (mail delivery protocol status)"},

	// Message content or media status, RFC 3463 §3.7, and other status,
	// §3.1: nothing more to say than the code does.
	{pattern: "6.x", subject: 6, detail: anyDetail, category: "other",
		source: "RFC 3463 §3.7 (message content or media status)"},
	{pattern: "0.x", subject: 0, detail: anyDetail, category: "other",
		source: "RFC 3463 §3.1 (other or undefined status)"},
}

// Words that move a security or policy refusal to another row. RE2, so no
// pattern here can take more than linear time.
var (
	clientWords = regexp.MustCompile(`(?i)\b(client|ip( address)?|ipv[46]|reverse (dns|lookup|hostname)|rdns|ptr|your (host|server|mta|network))\b|\bconnections? (from|refused|rejected|denied|not accepted)`)
)

// fallbackRow is one row of enhancedFallback.
type fallbackRow struct {
	pattern  string         // the name after "enhanced-N."
	subject  int            // RFC 3463 §2 subject
	detail   span           // the details it covers
	stage    string         // "": any
	text     *regexp.Regexp // nil: any wording
	blocked  bool           // blocked-ip, scope pool; else the code decides
	category string
	source   string
}

// span is an inclusive range of detail numbers.
type span struct{ lo, hi int }

var anyDetail = span{0, 999}

// enhanced classifies a reply that no rule matched by its enhanced code. ok
// is false when the reply has none.
func enhanced(stage string, r *reply) (queue.Classification, Rule, bool) {
	if !r.hasEnh {
		return queue.Classification{}, Rule{}, false
	}
	subject, detail := r.enh[1], r.enh[2]
	for _, f := range enhancedFallback {
		if f.subject != subject || detail < f.detail.lo || detail > f.detail.hi ||
			f.stage != "" && f.stage != stage || f.text != nil && !f.text.MatchString(r.text) {
			continue
		}
		name := fmt.Sprintf("enhanced-%d.%s", r.code/100, f.pattern)
		out := queue.Classification{Verdict: byCode(r.code), Category: f.category, Rule: name}
		if f.blocked {
			out.Verdict, out.Scope = queue.VerdictBlockedIP, "pool"
		}
		return out, Rule{Name: name, Category: f.category, Source: f.source}, true
	}
	return queue.Classification{}, Rule{}, false
}
