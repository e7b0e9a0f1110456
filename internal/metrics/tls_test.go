package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"sendpool/internal/queue"
)

// Attempts count by policy and result; those without a policy do not.
func TestTLSAttempts(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewTLS(reg)
	m.Attempt(queue.TLS{Version: "TLS 1.3", Verified: true, Policy: "mta-sts"})
	m.Attempt(queue.TLS{Version: "TLS 1.3", Verified: true, Policy: "mta-sts"})
	m.Attempt(queue.TLS{Policy: "mta-sts", Failure: "certificate-host-mismatch"})
	m.Attempt(queue.TLS{Version: "TLS 1.2", Policy: "may"})
	m.Attempt(queue.TLS{Policy: "may"})
	m.Attempt(queue.TLS{})
	var nilT *TLS
	nilT.Attempt(queue.TLS{Policy: "may"})
	got := gather(t, reg)
	for k, want := range map[string]float64{
		`sendpool_delivery_tls_total{policy="mta-sts",result="verified"}`:                  2,
		`sendpool_delivery_tls_total{policy="mta-sts",result="certificate-host-mismatch"}`: 1,
		`sendpool_delivery_tls_total{policy="may",result="encrypted"}`:                     1,
		`sendpool_delivery_tls_total{policy="may",result="plaintext"}`:                     1,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], want, got)
		}
	}
	if len(got) != 4 {
		t.Errorf("series %v", got)
	}
}
