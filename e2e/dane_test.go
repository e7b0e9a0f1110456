package e2e

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
	"sendpool/internal/testenv"
)

// TestDANE runs the binary with delivery.dane against the DNSSEC world of
// scripts/services/dnssec: BIND serving dane.test signed inline and
// unsigned.test unsigned, Unbound validating with dane.test's trust
// anchor. Every MX host presents the key the script made: good.dane.test's
// TLSA record (3 1 1) matches it, ta.dane.test's (2 0 1) its CA,
// bad.dane.test's matches another key; unsigned.test's record does not
// match either, but unsigned it must be ignored.
func TestDANE(t *testing.T) {
	dw := testenv.DNSSEC(t)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dw.Dir, "mx-chain.crt"), filepath.Join(dw.Dir, "mx.key"))
	if err != nil {
		t.Fatal(err)
	}
	domains := map[string]string{
		"good." + dw.Zone: "127.0.0.21", "bad." + dw.Zone: "127.0.0.22", "ta." + dw.Zone: "127.0.0.23",
		"unsigned.test": "127.0.0.24", "shop1.test": "127.0.0.14",
	}
	e := newEnv(t, domains, `dane = true
retry = ["1s"]
mta_sts = false`)
	// dns.dnssec_resolver sits in [dns], which the harness wrote already.
	conf := strings.Replace(readFile(t, e.config), "[dns]\n", "[dns]\ndnssec_resolver = \""+dw.Resolver+"\"\n", 1)
	writeFile(t, e.config, conf)
	for d := range domains {
		e.world.Sink(d).SetTLS(sandbox.ServerTLS(cert))
	}
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	rcpts := []string{"a@good." + dw.Zone, "b@ta." + dw.Zone, "c@bad." + dw.Zone, "d@unsigned.test"}
	if err := submit(e.smtp, "shop1", "pw-shop1-secret", sender, rcpts, message(sender, rcpts[0], "dane1")); err != nil {
		t.Fatal(err)
	}
	id := e.idOf(sender, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, d := range []string{"good." + dw.Zone, "ta." + dw.Zone, "unsigned.test"} {
		if err := e.world.Sink(d).WaitMessages(ctx, 1); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		if m := e.world.Sink(d).Messages(); !m[0].TLS {
			t.Errorf("%s got the message without TLS", d)
		}
	}
	var m *queue.MessageDetail
	waitFor(t, 20*time.Second, "an attempt for every recipient", func() bool {
		m, err = e.api().Message(context.Background(), id)
		if err != nil || len(m.Recipients) != 4 {
			return false
		}
		for _, r := range m.Recipients {
			if len(r.Attempts) == 0 {
				return false
			}
		}
		return true
	})
	for _, r := range m.Recipients {
		a := r.Attempts[0]
		switch r.Address {
		case rcpts[0], rcpts[1]:
			if r.Status != queue.StatusDelivered || a.TLS != (queue.TLS{Version: "TLS 1.3", Verified: true, Policy: "dane"}) {
				t.Errorf("%s: %s %+v", r.Address, r.Status, a.TLS)
			}
		case rcpts[2]:
			if r.Status != queue.StatusDeferred || a.Category != "tls" || a.TLS.Failure != "tlsa-invalid" || a.TLS.Version != "" ||
				!strings.Contains(a.Response, "DANE") || !strings.Contains(a.Response, "not sent in plaintext") {
				t.Errorf("%s: %s %+v %q", r.Address, r.Status, a.TLS, a.Response)
			}
		case rcpts[3]:
			if r.Status != queue.StatusDelivered || a.TLS.Policy != "may" || a.TLS.Verified || a.TLS.Version == "" {
				t.Errorf("%s: %s %+v", r.Address, r.Status, a.TLS)
			}
		}
	}
	if n, _ := e.world.Sink("bad." + dw.Zone).Received(); n != 0 {
		t.Errorf("bad.%s received %d messages", dw.Zone, n)
	}
	if _, err := os.Stat(filepath.Join(dw.Dir, "ca.crt")); err != nil {
		t.Error(err)
	}
}
