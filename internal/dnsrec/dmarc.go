package dnsrec

import (
	"context"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"

	"sendpool/internal/dkim"
	"sendpool/internal/dns"
	"sendpool/internal/domain"
)

// DMARC results (RFC 7489 §11.2, RFC 8601 §2.7.5 names).
const (
	DMARCPass      = "pass"
	DMARCFail      = "fail"
	DMARCNone      = "none" // the domain publishes no policy
	DMARCTempError = "temperror"
)

// DMARCInput is what the receiving side knows of a message.
type DMARCInput struct {
	FromDomain string    // the RFC5322.From domain
	SPF        SPFResult // SPF's result for SPFDomain
	SPFDomain  string    // the MAIL FROM domain (or the HELO name for <>)
	DKIM       []dkim.Verification
}

// DMARCOutcome is DMARC's verdict on a message.
type DMARCOutcome struct {
	Result       string       // DMARCPass, DMARCFail, DMARCNone, DMARCTempError
	PolicyDomain string       // where the record was found
	Record       string       // the record, "" with none
	Policy       dmarc.Policy // what the domain asks done on fail: p=, or sp= for a subdomain
	SPFAligned   bool
	DKIMAligned  bool
}

// aligned reports whether id aligns with from in mode (RFC 7489 §3.1):
// strict wants the same name, relaxed the same organizational domain.
func aligned(id, from string, mode dmarc.AlignmentMode) bool {
	id, from = strings.ToLower(id), strings.ToLower(from)
	if mode == dmarc.AlignmentStrict {
		return id == from
	}
	return domain.AlignedRelaxed(id, from)
}

// EvaluateDMARC finds the From domain's policy (at the domain, else at its
// organizational domain, RFC 7489 §6.6.3) and checks whether an SPF pass or
// a DKIM pass aligns with the From domain (§4.2). pct= is not applied: the
// caller samples if it wants to.
func EvaluateDMARC(ctx context.Context, r dkim.TXTResolver, in DMARCInput) DMARCOutcome {
	from := strings.ToLower(strings.TrimSuffix(in.FromDomain, "."))
	out := DMARCOutcome{Result: DMARCNone}
	rec, at, raw, temp := findDMARC(ctx, r, from)
	switch {
	case temp:
		out.Result = DMARCTempError
		return out
	case rec == nil:
		return out
	}
	out.PolicyDomain, out.Record = at, raw
	out.Policy = rec.Policy
	if at != from && rec.SubdomainPolicy != "" {
		out.Policy = rec.SubdomainPolicy
	}
	for _, v := range in.DKIM {
		if v.Result == dkim.Pass && aligned(v.Domain, from, rec.DKIMAlignment) {
			out.DKIMAligned = true
		}
	}
	out.SPFAligned = in.SPF == SPFPass && aligned(in.SPFDomain, from, rec.SPFAlignment)
	out.Result = DMARCFail
	if out.SPFAligned || out.DKIMAligned {
		out.Result = DMARCPass
	}
	return out
}

// findDMARC returns the policy record for from, where it was found and its
// text; temp is set when DNS failed and the answer is unknown.
func findDMARC(ctx context.Context, r dkim.TXTResolver, from string) (rec *dmarc.Record, at, raw string, temp bool) {
	for _, name := range []string{from, domain.OrgDomain(from)} {
		if name == at {
			break // the From domain is its own organizational domain
		}
		at = name
		txts, err := r.LookupTXT(ctx, "_dmarc."+name)
		if err != nil && !dns.IsNotFound(err) {
			return nil, "", "", true
		}
		var found []string
		for _, t := range txts {
			if strings.HasPrefix(strings.ToLower(t), "v=dmarc1") {
				found = append(found, t)
			}
		}
		// §6.6.3: more than one record, or one that does not parse, is
		// as if there were none.
		if len(found) != 1 {
			continue
		}
		if p, err := dmarc.Parse(found[0]); err == nil { // adkim, aspf default to relaxed
			return p, name, found[0], false
		}
	}
	return nil, "", "", false
}
