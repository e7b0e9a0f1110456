package config

import (
	"strings"
	"testing"
)

func TestInboundDefaultsAndErrors(t *testing.T) {
	c, err := Parse(`
[inbound]
listen = ["127.0.0.1:2526"]
allow = ["192.0.2.0/24", "2001:db8::1"]
srs_domain = "srs.relay.test"
srs_secrets = ["0123456789abcdef"]
[[inbound.dnsbl]]
zone = "bl.test"
weight = 1.0
codes = ["127.0.0.2"]
[[inbound.dnsbl]]
zone = "wl.test"
weight = -1.0
`)
	if err != nil {
		t.Fatal(err)
	}
	in := c.Inbound
	if in.GreetPause.D().String() != "3s" || in.Recipients != RecipientsCallout || in.Greylist != GreylistSuspicious ||
		in.DNSBLThreshold != 1.0 || in.BanFor.D().String() != "1h0m0s" || len(in.DNSBL) != 2 || len(Prefixes(in.Allow)) != 2 {
		t.Fatalf("defaults: %+v", in)
	}
	_, err = Parse(`
[inbound]
listen = ["nowhere"]
deny = ["10.0.0.0/33"]
recipients = "guess"
greylist = "some"
tag_score = 20.0
srs_secrets = ["short"]
[[inbound.dnsbl]]
zone = "no zone"
weight = 0.0
codes = ["10.0.0.2"]
`)
	want := []string{"inbound.listen[0]", "inbound.deny[0]", "inbound.recipients", "inbound.greylist", "inbound.tag_score",
		"inbound.srs_secrets[0]", "inbound.srs_domain", "inbound.dnsbl[0].zone", "inbound.dnsbl[0].weight", "inbound.dnsbl[0].codes[0]"}
	for _, k := range want {
		if err == nil || !strings.Contains(err.Error(), k+":") {
			t.Errorf("no error for %s in %v", k, err)
		}
	}
}
