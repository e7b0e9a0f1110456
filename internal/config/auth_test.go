package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestAuthKeys(t *testing.T) {
	c := Default()
	if c.Auth.MaxFailures != 10 || c.Auth.MaxAccountFailures != 50 || c.Auth.Window.D() != 15*time.Minute || len(c.Auth.Exempt) != 0 {
		t.Errorf("defaults: %+v", c.Auth)
	}
	c, err := Parse(`
[auth]
max_failures = 5
max_account_failures = 0
window = "1h"
exempt = ["192.0.2.0/24", "2001:db8::1"]
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::1/128")}
	got := c.Auth.ExemptPrefixes()
	if c.Auth.MaxFailures != 5 || c.Auth.MaxAccountFailures != 0 || c.Auth.Window.D() != time.Hour ||
		len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("parsed: %+v, exempt %v", c.Auth, got)
	}
	_, err = Parse(`
[auth]
max_failures = -1
max_account_failures = -2
window = "0s"
exempt = ["10.0.0.0/8", "not-a-cidr"]
`)
	if err == nil {
		t.Fatal("bad auth keys accepted")
	}
	for _, key := range []string{"auth.max_failures:", "auth.max_account_failures:", "auth.window:", "auth.exempt[1]:"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("no error for %s in:\n%v", key, err)
		}
	}
	if strings.Contains(err.Error(), "auth.exempt[0]") {
		t.Errorf("a valid CIDR refused:\n%v", err)
	}
}

func TestTrustKeys(t *testing.T) {
	c := Default()
	if c.Auth.TrustedFor.D() != 720*time.Hour || len(c.Auth.TrustedProxies) != 0 || c.Submission.ProxyProtocol {
		t.Errorf("defaults: trusted_for %v, trusted_proxies %v, proxy_protocol %v",
			c.Auth.TrustedFor.D(), c.Auth.TrustedProxies, c.Submission.ProxyProtocol)
	}
	c, err := Parse(`
[submission]
proxy_protocol = true
[auth]
trusted_for = "0s"
trusted_proxies = ["10.0.0.0/8", "2001:db8::7"]
`)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Auth.TrustedProxyPrefixes()
	if c.Auth.TrustedFor != 0 || !c.Submission.ProxyProtocol || len(got) != 2 ||
		got[0] != netip.MustParsePrefix("10.0.0.0/8") || got[1] != netip.MustParsePrefix("2001:db8::7/128") {
		t.Errorf("parsed: trusted_for %v, proxy_protocol %v, trusted_proxies %v", c.Auth.TrustedFor.D(), c.Submission.ProxyProtocol, got)
	}
	_, err = Parse(`
[submission]
proxy_protocol = true
[auth]
trusted_for = "-1h"
`)
	if err == nil {
		t.Fatal("bad keys accepted")
	}
	for _, key := range []string{"auth.trusted_for:", "submission.proxy_protocol: needs auth.trusted_proxies"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("no error for %s in:\n%v", key, err)
		}
	}
	_, err = Parse(`
[auth]
trusted_proxies = ["10.0.0.0/8", "proxy.example"]
`)
	if err == nil || !strings.Contains(err.Error(), "auth.trusted_proxies[1]:") || strings.Contains(err.Error(), "[0]") {
		t.Errorf("trusted_proxies with one bad entry: %v, want an error for [1] only", err)
	}
}
