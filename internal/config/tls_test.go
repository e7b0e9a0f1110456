package config

import (
	"strings"
	"testing"
	"time"
)

// TestOutboundTLS: the SPEC §7 keys and their defaults, overrides, and a
// problem in each reported with its key path.
func TestOutboundTLS(t *testing.T) {
	d := Default().Delivery
	if !d.MTASTS || d.DANE || !d.TLSRPT || d.MTASTSPort != 443 || d.TLSRPTPeriod.D() != 24*time.Hour || d.TLSCAFile != "" {
		t.Errorf("defaults: %+v", d.OutboundTLS)
	}
	c, err := Parse(`
[dns]
dnssec_resolver = "127.0.0.1:5399"
[delivery]
mta_sts = false
dane = true
tls_rpt = false
tls_rpt_from = "reports@relay.example"
[[delivery.tls_policy]]
domain = "bank.example"
mode = "verify"
[[delivery.tls_policy]]
domain = "legacy.example"
mode = "none"
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Delivery.MTASTS || !c.Delivery.DANE || c.Delivery.TLSRPT || c.DNS.DNSSECResolver != "127.0.0.1:5399" ||
		len(c.Delivery.TLSPolicy) != 2 || c.Delivery.TLSPolicy[1] != (TLSPolicy{Domain: "legacy.example", Mode: "none"}) ||
		c.ReportFrom() != "reports@relay.example" {
		t.Errorf("parsed: %+v, dns %+v", c.Delivery.OutboundTLS, c.DNS)
	}
	if got := Default().ReportFrom(); !strings.HasPrefix(got, "tlsrpt-noreply@") {
		t.Errorf("default report sender %q", got)
	}
	for _, tc := range []struct{ text, key string }{
		{"[delivery]\ndane = true\n", "delivery.dane:"},
		{"[dns]\ndnssec_resolver = \"resolver\"\n", "dns.dnssec_resolver:"},
		{"[delivery]\ntls_ca_file = \"/nonexistent/ca.pem\"\n", "delivery.tls_ca_file:"},
		{"[delivery]\ntls_rpt_period = \"7h\"\n", "delivery.tls_rpt_period:"},
		{"[delivery]\nmta_sts_port = 0\n", "delivery.mta_sts_port:"},
		{"[delivery]\ntls_rpt_from = \"nobody\"\n", "delivery.tls_rpt_from:"},
		{"[[delivery.tls_policy]]\ndomain = \"a.example\"\nmode = \"dane\"\n", "delivery.tls_policy[0].mode:"},
		{"[[delivery.tls_policy]]\ndomain = \"*.example\"\nmode = \"may\"\n", "delivery.tls_policy[0].domain:"},
		{"[[delivery.tls_policy]]\ndomain = \"a.example\"\nmode = \"may\"\n[[delivery.tls_policy]]\ndomain = \"A.example.\"\nmode = \"none\"\n",
			"delivery.tls_policy[1].domain:"},
	} {
		if _, err := Parse(tc.text); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: err %v, want one naming %s", tc.text, err, tc.key)
		}
	}
}
