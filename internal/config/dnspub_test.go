package config

import (
	"strings"
	"testing"
	"time"
)

func TestDNSPublishDefaults(t *testing.T) {
	c, err := Parse(`
[[dns.publish]]
zone = "Hosting.Example.Test."
method = "rfc2136"
server = "192.0.2.53"
tsig_name = "sendpool"
tsig_secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQ="

[[dns.publish]]
zone = "pdns.example.test"
method = "pdns"
url = "http://127.0.0.1:8081"
api_key = "k"
nameservers = ["192.0.2.1:53"]
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.DNS.PublishInterval.D() != time.Minute || c.DKIM.RevokedFor.D() != 168*time.Hour {
		t.Fatalf("defaults: publish_interval %s, revoked_for %s", c.DNS.PublishInterval.D(), c.DKIM.RevokedFor.D())
	}
	zs := c.PublishZones()
	if zs[0].Zone != "hosting.example.test" || zs[0].Server != "192.0.2.53:53" || zs[0].TSIGAlgorithm != "hmac-sha256" {
		t.Fatalf("rfc2136 zone: %+v", zs[0])
	}
	if zs[1].ServerID != "localhost" {
		t.Fatalf("pdns zone: %+v", zs[1])
	}
}

func TestDNSPublishBadValuesReportKeyPaths(t *testing.T) {
	_, err := Parse(`
[dns]
publish_interval = "0s"
[[dns.publish]]
zone = "not a zone"
method = "rfc2136"
tsig_algorithm = "hmac-md5"
tsig_secret = "%%%"
nameservers = ["nope"]
[[dns.publish]]
zone = "example.test"
method = "pdns"
url = "ftp://x"
[[dns.publish]]
zone = "example.test"
method = "route53"
`)
	if err == nil {
		t.Fatal("bad [[dns.publish]] accepted")
	}
	for _, key := range []string{"dns.publish_interval", "dns.publish[0].zone", "dns.publish[0].server", "dns.publish[0].tsig_name",
		"dns.publish[0].tsig_algorithm", "dns.publish[0].tsig_secret", "dns.publish[0].nameservers[0]", "dns.publish[1].url",
		"dns.publish[1].api_key", `dns.publish[2].zone: "example.test" is listed twice`, "dns.publish[2].method"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("no error for %s in:\n%v", key, err)
		}
	}
}
