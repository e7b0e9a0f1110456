package config

import (
	"fmt"
	"net/netip"
	"time"
)

// Auth throttles password guessing (internal/authguard) on SMTP AUTH, the
// HTTP /send credentials, the API's bearer token and the panel's login.
// The failures are counted in the shared state, so with Redis every node
// sees every other's. A zero count turns its rule off.
type Auth struct {
	// MaxFailures from one client IP (an IPv6 client's /64) within Window:
	// past it the IP is refused (SMTP 454 4.7.0, HTTP 429) until the
	// window frees.
	MaxFailures int `toml:"max_failures"`
	// MaxAccountFailures for one account name within Window, from any
	// IPs: past it the account refuses every IP outside its networks that
	// has not logged in to it within TrustedFor.
	MaxAccountFailures int `toml:"max_account_failures"`
	// Window is the span failures are counted over; they age out of it (a
	// success resets nothing).
	Window Duration `toml:"window"`
	// Exempt are CIDRs never counted nor refused (monitoring, the
	// provider's own hosting servers). Loopback is not exempt by default.
	Exempt []string `toml:"exempt"`
	// TrustedFor is how long an IP (an IPv6 client's /64) that logged in
	// to an account with the right password stays exempt from that
	// account's lock (MaxAccountFailures), so that guessing cannot lock a
	// customer out; its own IP limit still applies. "0s": only the
	// account's networks are exempt.
	TrustedFor Duration `toml:"trusted_for"`
	// TrustedProxies are the reverse proxies and load balancers (CIDRs)
	// whose X-Forwarded-For (HTTP) and PROXY protocol header (submission,
	// with submission.proxy_protocol) name the real client. Nobody else's
	// are believed.
	TrustedProxies []string `toml:"trusted_proxies"`
}

func defaultAuth() Auth {
	return Auth{MaxFailures: 10, MaxAccountFailures: 50, Window: Duration(15 * time.Minute),
		TrustedFor: Duration(720 * time.Hour)}
}

// ExemptPrefixes returns auth.exempt parsed (Validate has checked it).
func (a Auth) ExemptPrefixes() []netip.Prefix { return prefixes(a.Exempt) }

// TrustedProxyPrefixes returns auth.trusted_proxies parsed (Validate has
// checked it).
func (a Auth) TrustedProxyPrefixes() []netip.Prefix { return prefixes(a.TrustedProxies) }

func prefixes(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix parses a CIDR or a single address (as a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	return p.Masked(), err
}

// validateAuth checks [auth].
func (c *Config) validateAuth(bad func(key, format string, args ...any)) {
	a := c.Auth
	if a.MaxFailures < 0 {
		bad("auth.max_failures", "must not be negative")
	}
	if a.MaxAccountFailures < 0 {
		bad("auth.max_account_failures", "must not be negative")
	}
	if a.Window <= 0 {
		bad("auth.window", "must be positive")
	}
	for i, s := range a.Exempt {
		if _, err := parsePrefix(s); err != nil {
			bad(fmt.Sprintf("auth.exempt[%d]", i), "%q: want a CIDR such as 192.0.2.0/24", s)
		}
	}
	if a.TrustedFor < 0 {
		bad("auth.trusted_for", "must not be negative (\"0s\" trusts only the account's networks)")
	}
	for i, s := range a.TrustedProxies {
		if _, err := parsePrefix(s); err != nil {
			bad(fmt.Sprintf("auth.trusted_proxies[%d]", i), "%q: want a CIDR such as 192.0.2.0/24", s)
		}
	}
	// Without trusted proxies every connection would be refused; a header
	// from anyone would let any client pose as any address.
	if c.Submission.ProxyProtocol && len(a.TrustedProxies) == 0 {
		bad("submission.proxy_protocol", "needs auth.trusted_proxies: the proxies allowed to send the header")
	}
}
