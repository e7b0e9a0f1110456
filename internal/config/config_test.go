package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestDefaultsValid(t *testing.T) {
	if errs := Default().Validate(); len(errs) > 0 {
		t.Fatalf("defaults invalid: %v", errs)
	}
}

func TestExampleConfigLoads(t *testing.T) {
	c, err := Load("../../etc/sendpool.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Delivery.Retry[2].D(); got != 30*time.Minute {
		t.Errorf("retry[2] = %v", got)
	}
	if c.Submission.MaxMessageSize != 25<<20 {
		t.Errorf("max_message_size = %d", c.Submission.MaxMessageSize)
	}
	ips := c.PoolIPs()
	if len(ips) != 3 || ips[1].Weight != 2 || ips[0].EHLO != "mta1.example.net" || ips[2].WarmupStart != "2026-11-20" {
		t.Errorf("pool = %+v", ips)
	}
}

func TestUnknownKeysAndBadValuesReportKeyPaths(t *testing.T) {
	_, err := Parse(`
[submission]
listen = ["nowhere"]
max_mesage_size = "1MB"
[delivery]
retry = ["5m", "soon"]
[[pool.ip]]
address = "10.0.0.1"
colour = "blue"
[[pool.ip]]
address = "10.0.0.1"
`)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	// A duration that does not parse stops decoding; check it separately.
	if !strings.Contains(msg, "soon") {
		t.Errorf("bad duration not reported: %s", msg)
	}
	_, err = Parse(`
[submission]
listen = ["nowhere"]
max_mesage_size = "1MB"
[[pool.ip]]
address = "10.0.0.1"
colour = "blue"
[[pool.ip]]
address = "10.0.0.1"
[store]
backend = "postgres"
`)
	if err == nil {
		t.Fatal("no error")
	}
	msg = err.Error()
	for _, want := range []string{
		"submission.max_mesage_size: unknown key",
		"pool.ip.colour: unknown key",
		`submission.listen[0]: "nowhere" is not an ip:port`,
		"pool.ip[1].address: 10.0.0.1 is listed twice",
		`store.backend: "postgres"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]int64{"25MB": 25 << 20, "512kb": 512 << 10, "1GB": 1 << 30, "100": 100, "7 B": 7} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MB", "-1", "1TB", "x"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
	c, err := Parse("[submission]\nmax_message_size = 1000\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Submission.MaxMessageSize != 1000 {
		t.Errorf("integer size = %d", c.Submission.MaxMessageSize)
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(t.TempDir() + "/none.toml"); !os.IsNotExist(err) {
		t.Errorf("err = %v", err)
	}
}
