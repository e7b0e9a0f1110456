package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"sendpool/internal/account"
)

// DNSPublish is one zone sendpool publishes customers' records in
// (internal/dnspub): `[[dns.publish]]`.
type DNSPublish struct {
	// Zone is the zone's name, e.g. "hosting.example.net": a customer's
	// domain at or under it is published here.
	Zone string `toml:"zone"`
	// Method is "rfc2136" (DNS UPDATE to server, signed with the TSIG key)
	// or "pdns" (PowerDNS's HTTP API at url with api_key).
	Method        string `toml:"method"`
	Server        string `toml:"server"`         // rfc2136: the primary, host:port (port 53 if left out)
	TSIGName      string `toml:"tsig_name"`      // rfc2136: the TSIG key's name, as the server knows it (RFC 8945)
	TSIGAlgorithm string `toml:"tsig_algorithm"` // "hmac-sha256" (default) or "hmac-sha512"
	TSIGSecret    string `toml:"tsig_secret"`    // base64
	URL           string `toml:"url"`            // pdns: e.g. "http://127.0.0.1:8081"
	APIKey        string `toml:"api_key"`        // pdns: the X-API-Key of PowerDNS's webserver
	ServerID      string `toml:"server_id"`      // pdns: default "localhost"
	// Nameservers are the zone's authoritative servers (host:port) that must
	// all answer a new DKIM key before signing switches to it; empty: the
	// zone's NS records at port 53.
	Nameservers []string `toml:"nameservers"`
}

// DNSPublishDefaults are what a [[dns.publish]] leaves out.
const (
	DefaultTSIGAlgorithm = "hmac-sha256"
	DefaultPDNSServerID  = "localhost"
)

// defaultPublishInterval is dns.publish_interval: how often every
// published domain is compared with its zone (failures retried, rotations
// moved on).
const defaultPublishInterval = time.Minute

// defaultRevokedFor is dkim.revoked_for: how long a revoked key's empty
// record stays before it is deleted.
const defaultRevokedFor = 168 * time.Hour

// PublishZones returns the [[dns.publish]] entries with their defaults.
func (c *Config) PublishZones() []DNSPublish {
	out := make([]DNSPublish, len(c.DNS.Publish))
	for i, p := range c.DNS.Publish {
		p.Zone = strings.ToLower(strings.TrimSuffix(p.Zone, "."))
		if p.TSIGAlgorithm == "" {
			p.TSIGAlgorithm = DefaultTSIGAlgorithm
		}
		if p.ServerID == "" {
			p.ServerID = DefaultPDNSServerID
		}
		if p.Server != "" {
			if _, _, err := net.SplitHostPort(p.Server); err != nil {
				p.Server = net.JoinHostPort(p.Server, "53")
			}
		}
		out[i] = p
	}
	return out
}

func (c *Config) validatePublish(bad func(key, format string, args ...any)) {
	if c.DNS.PublishInterval <= 0 {
		bad("dns.publish_interval", "must be positive")
	}
	if c.DKIM.RevokedFor < 0 {
		bad("dkim.revoked_for", "must not be negative")
	}
	seen := map[string]bool{}
	for i, p := range c.PublishZones() {
		key := func(k string) string { return fmt.Sprintf("dns.publish[%d].%s", i, k) }
		if !account.ValidDomain(p.Zone) {
			bad(key("zone"), "%q is not a DNS zone", c.DNS.Publish[i].Zone)
		} else if seen[p.Zone] {
			bad(key("zone"), "%q is listed twice", p.Zone)
		}
		seen[p.Zone] = true
		switch p.Method {
		case "rfc2136":
			if p.Server == "" {
				bad(key("server"), "rfc2136 needs the zone's primary, host:port")
			} else if _, _, err := net.SplitHostPort(p.Server); err != nil {
				bad(key("server"), "%q: want host:port", p.Server)
			}
			if p.TSIGName == "" {
				bad(key("tsig_name"), "rfc2136 needs a TSIG key (RFC 8945)")
			}
			if p.TSIGAlgorithm != "hmac-sha256" && p.TSIGAlgorithm != "hmac-sha512" {
				bad(key("tsig_algorithm"), "%q: want \"hmac-sha256\" or \"hmac-sha512\"", p.TSIGAlgorithm)
			}
			if b, err := base64.StdEncoding.DecodeString(p.TSIGSecret); err != nil || len(b) == 0 {
				bad(key("tsig_secret"), "want the key's secret in base64")
			}
		case "pdns":
			if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(key("url"), "%q: want PowerDNS's API URL, e.g. \"http://127.0.0.1:8081\"", p.URL)
			}
			if p.APIKey == "" {
				bad(key("api_key"), "pdns needs the API key")
			}
		default:
			bad(key("method"), "%q: want \"rfc2136\" or \"pdns\"", p.Method)
		}
		for j, ns := range p.Nameservers {
			if _, _, err := net.SplitHostPort(ns); err != nil {
				bad(fmt.Sprintf("dns.publish[%d].nameservers[%d]", i, j), "%q: want host:port", ns)
			}
		}
	}
}
