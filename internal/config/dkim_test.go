package config

import (
	"strings"
	"testing"
	"time"
)

func TestDKIMDefaultsAndSPFHost(t *testing.T) {
	c, err := Parse("[server]\nhostname = \"Relay.Example.Test\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.DKIM.RetireAfter.D() != 168*time.Hour || c.DKIM.SPFMode != "include" || c.DKIM.DMARCPolicy != "none" {
		t.Fatalf("defaults: %+v", c.DKIM)
	}
	if h := c.SPFHost(); h != "_spf.relay.example.test" {
		t.Fatalf("default SPFHost %q", h)
	}
	c, err = Parse("[dkim]\nspf_host = \"_spf.mail.example.test.\"\nspf_mode = \"ip\"\nretire_after = \"96h\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.SPFHost() != "_spf.mail.example.test" || c.DKIM.SPFMode != "ip" || c.DKIM.RetireAfter.D() != 96*time.Hour {
		t.Fatalf("set: %q %+v", c.SPFHost(), c.DKIM)
	}
}

func TestDKIMBadValuesReportKeyPaths(t *testing.T) {
	_, err := Parse(`
[dkim]
retire_after = "24h"
check_interval = "0s"
spf_host = "not a host"
spf_mode = "flatten"
dmarc_policy = "block"
dmarc_rua = "dmarc@example.test"
return_path_host = "x"
`)
	if err == nil {
		t.Fatal("bad [dkim] accepted")
	}
	for _, key := range []string{"dkim.retire_after: 24h0m0s is shorter than delivery.max_queue_time",
		"dkim.check_interval", "dkim.spf_host", "dkim.spf_mode", "dkim.dmarc_policy", "dkim.dmarc_rua", "dkim.return_path_host"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("no error for %s in:\n%v", key, err)
		}
	}
}

func TestDKIMAlgorithms(t *testing.T) {
	c, err := Parse("")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.DKIM.Algorithms, ",") != "rsa-sha256,ed25519-sha256" {
		t.Fatalf("default dkim.algorithms %q, want both", c.DKIM.Algorithms)
	}
	c, err = Parse("[dkim]\nalgorithms = [\"ed25519-sha256\"]\n")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.DKIM.Algorithms, ",") != "ed25519-sha256" {
		t.Fatalf("dkim.algorithms %q, want ed25519-sha256 alone", c.DKIM.Algorithms)
	}
	for _, tc := range []struct{ toml, want string }{
		{`algorithms = []`, "dkim.algorithms: empty"},
		{`algorithms = ["rsa-sha1"]`, `dkim.algorithms: "rsa-sha1": want`},
		{`algorithms = ["ed25519"]`, `dkim.algorithms: "ed25519": want`},
		{`algorithms = ["rsa-sha256", "rsa-sha256"]`, `dkim.algorithms: "rsa-sha256" listed twice`},
	} {
		_, err := Parse("[dkim]\n" + tc.toml + "\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.toml, err, tc.want)
		}
	}
}
