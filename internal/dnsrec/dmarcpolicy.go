package dnsrec

import (
	"fmt"

	"github.com/emersion/go-msgauth/dmarc"
)

// policyRank orders DMARC policies by strictness (RFC 7489 §6.3 p=).
func policyRank(p dmarc.Policy) int {
	switch p {
	case dmarc.PolicyReject:
		return 2
	case dmarc.PolicyQuarantine:
		return 1
	}
	return 0
}

// lessStrict is the policy a receiver applies to failing mail left out of
// the pct= sample (RFC 7489 §6.6.4): the next less strict one.
func lessStrict(p dmarc.Policy) dmarc.Policy {
	switch p {
	case dmarc.PolicyReject:
		return dmarc.PolicyQuarantine
	}
	return dmarc.PolicyNone
}

// dmarcShortfall says why rec applies less than want to some of the
// domain's failing mail, "" when it applies at least want to all of it.
// p= is required and governs the domain itself; pct= (default 100) is the
// share of failing mail p= applies to, the rest getting the next less
// strict policy (RFC 7489 §6.3, §6.6.4). So p=reject; pct=50 still
// quarantines everything, enough when quarantine is expected.
func dmarcShortfall(rec *dmarc.Record, want dmarc.Policy) string {
	if policyRank(rec.Policy) < policyRank(want) {
		return fmt.Sprintf("p=%s is weaker than the expected p=%s: failing mail is not %s (RFC 7489 §6.3)",
			rec.Policy, want, treatment(want))
	}
	pct := 100
	if rec.Percent != nil {
		pct = *rec.Percent
	}
	if pct < 100 && policyRank(lessStrict(rec.Policy)) < policyRank(want) {
		return fmt.Sprintf("pct=%d: p=%s applies to only %d%% of failing mail, the rest gets p=%s;"+
			" remove pct= (default 100) for p=%s to apply to all of it (RFC 7489 §6.3, §6.6.4)",
			pct, rec.Policy, pct, lessStrict(rec.Policy), want)
	}
	return ""
}

// subdomainNote points out an sp= weaker than p=. It does not make the
// record wrong: sp= governs only mail from subdomains of name, not from
// name itself (RFC 7489 §6.3).
func subdomainNote(rec *dmarc.Record, name string) string {
	if rec.SubdomainPolicy == "" || policyRank(rec.SubdomainPolicy) >= policyRank(rec.Policy) {
		return ""
	}
	return fmt.Sprintf("sp=%s: mail from subdomains of %s gets a weaker policy than p=%s (RFC 7489 §6.3)",
		rec.SubdomainPolicy, name, rec.Policy)
}

func treatment(p dmarc.Policy) string {
	if p == dmarc.PolicyReject {
		return "rejected"
	}
	return "quarantined"
}
