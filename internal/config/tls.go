package config

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// OutboundTLS is how mail goes out encrypted (SPEC §7, "Outbound TLS"):
// the recipient domains' policies (MTA-STS, DANE), reports about them
// (TLS-RPT) and per-domain overrides. Its keys sit in [delivery]. Under a
// policy that applies, a failed check defers the mail: nothing goes in
// plaintext.
type OutboundTLS struct {
	// MTASTS applies the recipient domains' MTA-STS policies (RFC 8461).
	MTASTS bool `toml:"mta_sts"`
	// MTASTSPort is the port policy hosts are asked on: 443 (RFC 8461
	// §3.3); the sandbox and tests serve policies on another.
	MTASTSPort int `toml:"mta_sts_port"`
	// DANE applies the MX hosts' DNSSEC-signed TLSA records (RFC 7672);
	// it needs dns.dnssec_resolver, and then takes precedence over
	// MTA-STS.
	DANE bool `toml:"dane"`
	// TLSCAFile is a PEM file of extra roots trusted beside the system's,
	// for MX certificates, policy hosts and report endpoints (tests, a
	// private CA).
	TLSCAFile string `toml:"tls_ca_file"`
	// TLSRPT sends each recipient domain that asks for them (its
	// _smtp._tls record) a daily report of the TLS sessions made to it
	// (RFC 8460).
	TLSRPT bool `toml:"tls_rpt"`
	// TLSRPTFrom is the reports' sender and contact; empty:
	// "tlsrpt-noreply@" and server.hostname. A report by mail is
	// DKIM-signed when its domain has keys.
	TLSRPTFrom string `toml:"tls_rpt_from"`
	// TLSRPTPeriod is the span one report covers, periods starting at UTC
	// midnight: a day (RFC 8460 §4.1); shorter only for tests.
	TLSRPTPeriod Duration `toml:"tls_rpt_period"`
	// TLSPolicy are per-domain overrides, before anything the domain
	// publishes.
	TLSPolicy []TLSPolicy `toml:"tls_policy"`
}

// DNSSEC is the validating resolver, in [dns].
type DNSSEC struct {
	// DNSSECResolver is a validating resolver (ip:port) whose AD bit is
	// trusted, for DANE (delivery.dane): on this host or over a trusted
	// network.
	DNSSECResolver string `toml:"dnssec_resolver"`
}

// TLSPolicy is one [[delivery.tls_policy]]: mail to Domain (and only it,
// not its subdomains) goes under Mode.
type TLSPolicy struct {
	// Domain is the recipient domain the policy is for, e.g. "bank.example".
	Domain string `toml:"domain"`
	// Mode is "none" (no TLS at all), "may" (opportunistic), "encrypt"
	// (TLS required, any certificate) or "verify" (TLS with a certificate
	// valid for the MX host's name).
	Mode string `toml:"mode"`
}

// The modes of a TLSPolicy.
const (
	TLSModeNone    = "none"
	TLSModeMay     = "may"
	TLSModeEncrypt = "encrypt"
	TLSModeVerify  = "verify"
)

// MTASTSFetchTimeout bounds fetching one policy (RFC 8461 §3.3 suggests
// a minute); MTASTSMaxPolicySize is the size a policy may have (64 KB).
const (
	MTASTSFetchTimeout  = time.Minute
	MTASTSMaxPolicySize = 64 << 10
)

func defaultOutboundTLS() OutboundTLS {
	return OutboundTLS{MTASTS: true, MTASTSPort: 443, TLSRPT: true, TLSRPTPeriod: Duration(24 * time.Hour)}
}

// ReportFrom is the TLS reports' sender address.
func (c *Config) ReportFrom() string {
	if c.Delivery.TLSRPTFrom != "" {
		return c.Delivery.TLSRPTFrom
	}
	return "tlsrpt-noreply@" + c.Server.Hostname
}

// LoadCAFile reads the certificates of a PEM file (delivery.tls_ca_file).
func LoadCAFile(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, cert)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return out, nil
}

// validateOutboundTLS checks the [delivery] TLS keys and dns.dnssec_resolver.
func (c *Config) validateOutboundTLS(bad func(key, format string, args ...any)) {
	d := c.Delivery.OutboundTLS
	if d.MTASTSPort <= 0 || d.MTASTSPort > 65535 {
		bad("delivery.mta_sts_port", "%d is not a port", d.MTASTSPort)
	}
	if r := c.DNS.DNSSECResolver; r != "" {
		if _, err := netip.ParseAddrPort(r); err != nil {
			bad("dns.dnssec_resolver", "%q is not an ip:port", r)
		}
	}
	if d.DANE && c.DNS.DNSSECResolver == "" {
		bad("delivery.dane", "needs dns.dnssec_resolver, a validating resolver whose AD bit is trusted")
	}
	if d.TLSCAFile != "" {
		if _, err := LoadCAFile(d.TLSCAFile); err != nil {
			bad("delivery.tls_ca_file", "%v", err)
		}
	}
	if p := d.TLSRPTPeriod.D(); p <= 0 || (24*time.Hour)%p != 0 {
		bad("delivery.tls_rpt_period", "must divide a day (\"24h\"), so that periods start at UTC midnight")
	}
	if f := d.TLSRPTFrom; f != "" && (strings.Count(f, "@") != 1 || strings.HasPrefix(f, "@") || strings.HasSuffix(f, "@") ||
		strings.ContainsAny(f, " <>")) {
		bad("delivery.tls_rpt_from", "%q is not an address like tlsrpt@example.net", f)
	}
	seen := map[string]bool{}
	for i, p := range d.TLSPolicy {
		key := fmt.Sprintf("delivery.tls_policy[%d]", i)
		dom := strings.ToLower(strings.TrimSuffix(p.Domain, "."))
		if dom == "" || strings.ContainsAny(dom, " /@:*") || !strings.Contains(dom, ".") {
			bad(key+".domain", "%q is not a domain such as \"example.com\"", p.Domain)
		} else if seen[dom] {
			bad(key+".domain", "%s is listed twice", dom)
		}
		seen[dom] = true
		switch p.Mode {
		case TLSModeNone, TLSModeMay, TLSModeEncrypt, TLSModeVerify:
		default:
			bad(key+".mode", "%q: want \"none\", \"may\", \"encrypt\" or \"verify\"", p.Mode)
		}
	}
}
