package config

import (
	"slices"
	"strings"
	"time"

	"sendpool/internal/account"
)

// DKIM is the keys sendpool signs with and the DNS records each domain is
// told to publish (internal/dkim, internal/dnsrec).
type DKIM struct {
	// RetireAfter is how long a key replaced by a rotation keeps its record
	// before it is reported removable: longer than delivery.max_queue_time,
	// since queued mail is already signed with it.
	RetireAfter Duration `toml:"retire_after"`
	// CheckInterval is how often the records of rotated keys are looked up
	// to switch signing to them.
	CheckInterval Duration `toml:"check_interval"`
	// SPFHost is the service's SPF record, which each domain includes;
	// default "_spf." + server.hostname.
	SPFHost string `toml:"spf_host"`
	// SPFMode: "include" (a domain's record includes SPFHost) or "ip" (it
	// lists the pool's addresses itself).
	SPFMode string `toml:"spf_mode"`
	// DMARCPolicy is the p= suggested to new domains.
	DMARCPolicy string `toml:"dmarc_policy"`
	// DMARCRUA is the rua= suggested, "{domain}" standing for the domain;
	// "" suggests none.
	DMARCRUA string `toml:"dmarc_rua"`
	// ReturnPathHost, when set, is where bounces.<domain> points (CNAME).
	ReturnPathHost string `toml:"return_path_host"`
	// Algorithms are the signatures each message gets: "rsa-sha256",
	// "ed25519-sha256" (RFC 8463) or both. Keys of both types are made at
	// `domain add` either way, so their records are ready.
	Algorithms []string `toml:"algorithms"`
	// RevokedFor: in a zone sendpool publishes in, a retired key's record
	// is emptied (p=, revoked: RFC 6376 §3.6.1) once retire_after has
	// passed, and deleted this long after that.
	RevokedFor Duration `toml:"revoked_for"`
}

func defaultDKIM() DKIM {
	return DKIM{
		RetireAfter:   Duration(168 * time.Hour),
		CheckInterval: Duration(10 * time.Minute),
		SPFMode:       "include",
		DMARCPolicy:   "none",
		DMARCRUA:      "mailto:dmarc@{domain}",
		// Both: receivers that know Ed25519 are still few (RFC 8463 §1),
		// so RSA must stay; both is what issue 5 asks.
		Algorithms: []string{"rsa-sha256", "ed25519-sha256"},
		RevokedFor: Duration(defaultRevokedFor),
	}
}

// SPFHost returns dkim.spf_host, or its default from server.hostname.
func (c *Config) SPFHost() string {
	if c.DKIM.SPFHost != "" {
		return strings.ToLower(strings.TrimSuffix(c.DKIM.SPFHost, "."))
	}
	return "_spf." + strings.ToLower(c.Server.Hostname)
}

func (c *Config) validateDKIM(bad func(key, format string, args ...any)) {
	d := c.DKIM
	if d.RetireAfter <= 0 {
		bad("dkim.retire_after", "must be positive")
	} else if d.RetireAfter < c.Delivery.MaxQueueTime {
		bad("dkim.retire_after", "%s is shorter than delivery.max_queue_time (%s): queued mail signed with a retired key would fail",
			d.RetireAfter.D(), c.Delivery.MaxQueueTime.D())
	}
	if d.CheckInterval <= 0 {
		bad("dkim.check_interval", "must be positive")
	}
	// Labels may start with "_" here (RFC 7208 §3.1 names like _spf).
	if d.SPFHost != "" && !account.ValidDomain(strings.ReplaceAll(c.SPFHost(), "_", "x")) {
		bad("dkim.spf_host", "%q is not a host name", d.SPFHost)
	}
	if d.SPFMode != "include" && d.SPFMode != "ip" {
		bad("dkim.spf_mode", "%q: want \"include\" or \"ip\"", d.SPFMode)
	}
	switch d.DMARCPolicy {
	case "none", "quarantine", "reject":
	default:
		bad("dkim.dmarc_policy", "%q: want \"none\", \"quarantine\" or \"reject\"", d.DMARCPolicy)
	}
	if d.DMARCRUA != "" {
		for _, u := range strings.Split(d.DMARCRUA, ",") {
			if !strings.HasPrefix(strings.TrimSpace(u), "mailto:") || !strings.Contains(u, "@") {
				bad("dkim.dmarc_rua", "%q: want mailto: addresses (RFC 7489 §6.2)", u)
			}
		}
	}
	if h := d.ReturnPathHost; h != "" && !account.ValidDomain(strings.ToLower(strings.TrimSuffix(h, "."))) {
		bad("dkim.return_path_host", "%q is not a host name", h)
	}
	if len(d.Algorithms) == 0 {
		bad("dkim.algorithms", `empty: want "rsa-sha256", "ed25519-sha256" or both`)
	}
	for i, a := range d.Algorithms {
		switch {
		case a != "rsa-sha256" && a != "ed25519-sha256":
			bad("dkim.algorithms", `%q: want "rsa-sha256" or "ed25519-sha256"`, a)
		case slices.Contains(d.Algorithms[:i], a):
			bad("dkim.algorithms", "%q listed twice", a)
		}
	}
}
