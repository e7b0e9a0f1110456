// Package tlspolicy decides what TLS mail to a recipient domain must have,
// MX host by MX host, so that a man in the middle cannot strip it: a
// per-domain override ([[delivery.tls_policy]]) first; then DANE (RFC
// 7672) for each host whose TLSA records are DNSSEC-signed, which takes
// precedence over MTA-STS (RFC 8461 §2); then the domain's MTA-STS
// policy; else opportunistic TLS (RFC 7435). The delivery worker follows
// the Plan and tells TLS-RPT (RFC 8460) how each session went under the
// policy the Plan names.
package tlspolicy

import (
	"context"
	"fmt"
	"strings"

	"sendpool/internal/dane"
	"sendpool/internal/dns"
	"sendpool/internal/mtasts"
	"sendpool/internal/tlsrpt"
)

// The policies an attempt records (queue.TLS.Policy).
const (
	None          = "none"            // no TLS (an override)
	May           = "may"             // opportunistic: TLS when offered, any certificate
	Encrypt       = "encrypt"         // TLS required, any certificate (an override, or unusable TLSA)
	Verify        = "verify"          // TLS with a certificate valid for the MX name (an override)
	MTASTS        = "mta-sts"         // an enforced MTA-STS policy
	MTASTSTesting = "mta-sts-testing" // an MTA-STS policy in testing: as may, verified and reported
	DANE          = "dane"            // TLS authenticated by TLSA records
)

// Check is how a host's certificate is checked.
type Check int

// The checks of Host.
const (
	CheckNone Check = iota // not at all
	CheckPKIX              // chains to a trusted root, valid for the MX host's name
	CheckDANE              // matched by Host.TLSA
)

// Host is what a connection to one MX host must achieve.
type Host struct {
	// Policy names it, as the attempt records it.
	Policy string
	// NoTLS: do not start TLS at all.
	NoTLS bool
	// RequireTLS: no plaintext. A host that does not offer STARTTLS, or
	// whose handshake or check fails, is not used now, the mail waits.
	RequireTLS bool
	// Check and Enforce: how the certificate is checked, and whether a
	// failed check fails the connection (else it is only reported).
	Check   Check
	Enforce bool
	TLSA    []dns.TLSA // CheckDANE's records
	// Refused, when set, is why this host may not be used now (not in
	// the enforced MTA-STS policy, its TLSA lookup failed); Failure is
	// the TLS-RPT result type of it.
	Refused string
	Failure string
	// Report is the policy this host's sessions are reported under;
	// nil: none (overrides). PolicyFailure is a failure of the policy
	// itself (it could not be fetched) that each session reports.
	Report        *tlsrpt.Policy
	PolicyFailure string
	// Retry: a failed TLS handshake may be retried in plaintext, as
	// opportunistic TLS does (may, mta-sts-testing).
	Retry bool
}

// Plan is the TLS of one recipient domain's delivery: one Host per MX
// host.
type Plan struct {
	Domain string
	hosts  map[string]Host
}

// Host returns what connecting to mx requires.
func (p *Plan) Host(mx string) Host {
	if h, ok := p.hosts[strings.ToLower(mx)]; ok {
		return h
	}
	return mayHost(p.Domain, nil)
}

// STS finds a domain's MTA-STS policy; *mtasts.Policies implements it.
type STS interface {
	Get(ctx context.Context, domain string) mtasts.Result
}

// Config configures Policies.
type Config struct {
	// Overrides are the [[delivery.tls_policy]] modes by domain (lower
	// case): none, may, encrypt or verify.
	Overrides map[string]string
	// STS applies MTA-STS (delivery.mta_sts); nil: off.
	STS STS
	// DANE is the validating resolver (delivery.dane); nil: off.
	DANE dane.Resolver
}

// Policies makes Plans. Safe for concurrent use.
type Policies struct{ cfg Config }

// New returns Policies for cfg.
func New(cfg Config) *Policies { return &Policies{cfg: cfg} }

// Plan decides the TLS of mail to domain through its MX hosts mxs (in
// preference order). exempt mail (queue.Message.TLSOptional: TLS reports)
// follows no policy but opportunistic TLS.
func (p *Policies) Plan(ctx context.Context, domain string, mxs []string, exempt bool) *Plan {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	plan := &Plan{Domain: domain, hosts: map[string]Host{}}
	if exempt {
		return plan
	}
	if mode, ok := p.cfg.Overrides[domain]; ok {
		for _, mx := range mxs {
			plan.hosts[strings.ToLower(mx)] = overrideHost(mode)
		}
		return plan
	}
	secure := p.cfg.DANE != nil && dane.DomainSecure(ctx, p.cfg.DANE, domain)
	var sts *mtasts.Result
	for _, mx := range mxs {
		key := strings.ToLower(mx)
		if secure {
			if h, ok := daneHost(domain, mx, dane.LookupHost(ctx, p.cfg.DANE, mx)); ok {
				plan.hosts[key] = h
				continue
			}
		}
		if p.cfg.STS == nil {
			plan.hosts[key] = mayHost(domain, nil)
			continue
		}
		if sts == nil {
			r := p.cfg.STS.Get(ctx, domain)
			sts = &r
		}
		plan.hosts[key] = stsHost(domain, mx, *sts)
	}
	return plan
}

func overrideHost(mode string) Host {
	switch mode {
	case None:
		return Host{Policy: None, NoTLS: true}
	case Encrypt:
		return Host{Policy: Encrypt, RequireTLS: true}
	case Verify:
		return Host{Policy: Verify, RequireTLS: true, Check: CheckPKIX, Enforce: true}
	}
	return Host{Policy: May, Retry: true}
}

// mayHost is opportunistic TLS, reported as no policy found (RFC 8460
// §4.4) or, with a failed MTA-STS fetch, as that failure.
func mayHost(domain string, report *tlsrpt.Policy) Host {
	if report == nil {
		report = &tlsrpt.Policy{Type: tlsrpt.PolicyNotFound, Domain: domain}
	}
	return Host{Policy: May, Retry: true, Report: report}
}

// daneHost is the DANE policy of mx, if it has one (RFC 7672 §2.2).
func daneHost(domain, mx string, d dane.Host) (Host, bool) {
	report := &tlsrpt.Policy{Type: tlsrpt.PolicyTLSA, Domain: domain, MXHosts: []string{strings.ToLower(mx)}}
	for _, t := range d.Records {
		report.Strings = append(report.Strings, dane.String(t))
	}
	switch d.Kind {
	case dane.Required:
		return Host{Policy: DANE, RequireTLS: true, Check: CheckDANE, Enforce: true, TLSA: d.Records, Report: report}, true
	case dane.Encrypt:
		return Host{Policy: Encrypt, RequireTLS: true, Report: report}, true
	case dane.Fail:
		return Host{Policy: DANE, RequireTLS: true, Report: report, Failure: d.Failure,
			Refused: fmt.Sprintf("TLSA records of %s could not be had: %v (RFC 7672 §2.2)", mx, d.Err)}, true
	}
	return Host{}, false
}

// stsHost is what the MTA-STS result r asks of mx (RFC 8461 §5).
func stsHost(domain, mx string, r mtasts.Result) Host {
	if r.Policy == nil {
		if r.Failure == "" {
			return mayHost(domain, nil)
		}
		h := mayHost(domain, &tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: domain})
		h.PolicyFailure = r.Failure
		return h
	}
	report := &tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: domain, Strings: r.Policy.Lines, MXHosts: r.Policy.MX}
	switch r.Policy.Mode {
	case mtasts.ModeEnforce:
		h := Host{Policy: MTASTS, RequireTLS: true, Check: CheckPKIX, Enforce: true, Report: report}
		if !r.Policy.Matches(mx) {
			// §4.1: a host the policy does not name is not used at all.
			h.Refused = fmt.Sprintf("%s is not an MX host the MTA-STS policy of %s allows (mx: %s)",
				mx, domain, strings.Join(r.Policy.MX, ", "))
			h.Failure = tlsrpt.ResultValidationFailure
		}
		return h
	case mtasts.ModeTesting:
		return Host{Policy: MTASTSTesting, Check: CheckPKIX, Report: report, Retry: true}
	}
	return mayHost(domain, nil) // mode none: the domain has no policy
}

// NewPlan is a plan of given hosts (by MX name) for domain; a host not in
// it gets opportunistic TLS. For tests of the delivery worker, and
// anything else that decides otherwise than Policies.
func NewPlan(domain string, hosts map[string]Host) *Plan {
	p := &Plan{Domain: domain, hosts: map[string]Host{}}
	for mx, h := range hosts {
		p.hosts[strings.ToLower(mx)] = h
	}
	return p
}
