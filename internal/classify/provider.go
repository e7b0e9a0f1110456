package classify

import (
	"net/netip"
	"strings"
)

// providerDef is one row of the provider table in rules/00-providers.toml: MX host
// suffixes that belong to one mailbox provider or filtering service.
type providerDef struct {
	Name string `toml:"name"`
	MX   List   `toml:"mx"`
}

// shortSLD reports whether label is a second level under which registrars
// sell names, as in example.co.uk or example.com.au. Deliberately small: the
// fallback only has to group one organisation's MX hosts, not implement the
// Public Suffix List.
func shortSLD(label string) bool {
	switch label {
	case "co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go":
		return true
	}
	return false
}

// Provider names the provider that runs the MX host mx: the name from the
// provider table when a suffix matches (e.g. "outlook" for
// example-com.mail.protection.outlook.com), otherwise the host's
// registrable-ish domain: its last two labels, or its last three when the
// second-to-last label is a common short second level under a two-letter
// country TLD (mx1.example.co.uk → example.co.uk). An address literal is
// its own provider. Blocks with scope "provider" are keyed by this name.
func (c *Classifier) Provider(mx string) string {
	host := normalizeHost(mx)
	if host == "" {
		return ""
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.String()
	}
	for _, p := range c.providers {
		for _, s := range p.MX {
			s = normalizeHost(s)
			if host == s || strings.HasSuffix(host, "."+s) {
				return p.Name
			}
		}
	}
	return registrableDomain(host)
}

func normalizeHost(mx string) string {
	h := strings.ToLower(strings.TrimSpace(mx))
	h = strings.TrimPrefix(strings.TrimSuffix(h, "]"), "[")
	return strings.TrimSuffix(h, ".")
}

func registrableDomain(host string) string {
	labels := strings.Split(host, ".")
	n := len(labels)
	if n <= 2 {
		return host
	}
	if len(labels[n-1]) == 2 && shortSLD(labels[n-2]) {
		return strings.Join(labels[n-3:], ".")
	}
	return strings.Join(labels[n-2:], ".")
}
