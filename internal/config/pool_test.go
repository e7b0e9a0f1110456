package config

import (
	"strings"
	"testing"
	"time"
)

func TestPoolKeysDefaultsAndValidation(t *testing.T) {
	c := Default()
	if c.Pool.DNSBLInterval.D() != 10*time.Minute || c.Pool.DNSBLCooldown.D() != time.Hour ||
		c.Delivery.MaxConnectionsPerMX != 10 || c.Delivery.MaxConnectionsPerIPProvider != 10 {
		t.Errorf("defaults: %+v %+v", c.Pool, c.Delivery)
	}
	c, err := Parse(`
[delivery]
max_connections_per_mx = 3
max_connections_per_ip_provider = 2
[pool]
dnsbl = ["zen.spamhaus.org", "bl.spamcop.net"]
dnsbl_interval = "5m"
dnsbl_cooldown = "30m"
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Delivery.MaxConnectionsPerMX != 3 || c.Delivery.MaxConnectionsPerIPProvider != 2 ||
		c.Pool.DNSBLInterval.D() != 5*time.Minute || c.Pool.DNSBLCooldown.D() != 30*time.Minute || len(c.Pool.DNSBL) != 2 {
		t.Errorf("parsed: %+v %+v", c.Pool, c.Delivery)
	}
	_, err = Parse(`
[delivery]
max_connections_per_mx = 0
max_connections_per_ip_provider = -1
[pool]
dnsbl = ["zen.spamhaus.org", "", "http://bl.example"]
dnsbl_interval = "0s"
dnsbl_cooldown = "-1m"
`)
	if err == nil {
		t.Fatal("bad pool keys accepted")
	}
	for _, key := range []string{"delivery.max_connections_per_mx:", "delivery.max_connections_per_ip_provider:",
		"pool.dnsbl[1]:", "pool.dnsbl[2]:", "pool.dnsbl_interval:", "pool.dnsbl_cooldown:"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("no error for %s in:\n%v", key, err)
		}
	}
	if strings.Contains(err.Error(), "pool.dnsbl[0]") {
		t.Errorf("a valid zone refused:\n%v", err)
	}
}
