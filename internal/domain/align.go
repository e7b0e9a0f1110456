package domain

import (
	"strings"

	"golang.org/x/net/publicsuffix"
)

// OrgDomain is the organizational domain of name (RFC 7489 §3.2): its
// public suffix and one more label, name itself if it has none.
func OrgDomain(name string) string {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if org, err := publicsuffix.EffectiveTLDPlusOne(name); err == nil {
		return org
	}
	return name
}

// AlignedRelaxed reports whether the identifier id (a DKIM d= or an SPF
// domain) is in relaxed alignment with the From: domain from (RFC 7489
// §3.1): both have the same organizational domain.
func AlignedRelaxed(id, from string) bool {
	return OrgDomain(id) == OrgDomain(from)
}
