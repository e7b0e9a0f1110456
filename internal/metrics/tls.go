package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"sendpool/internal/queue"
)

// TLS counts delivery attempts by the TLS policy that applied and what
// came of it (SPEC §7, "Outbound TLS").
type TLS struct {
	attempts *prometheus.CounterVec
}

// NewTLS registers sendpool_delivery_tls_total{policy,result} on reg.
func NewTLS(reg prometheus.Registerer) *TLS {
	t := &TLS{attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sendpool_delivery_tls_total",
		Help: "Delivery attempts that reached an MX host, by TLS policy (none, may, encrypt, verify, mta-sts, " +
			"mta-sts-testing, dane) and result: verified, encrypted (not verified), plaintext, or the TLS-RPT " +
			"result type of a failed check (RFC 8460 §4.3, e.g. certificate-host-mismatch).",
	}, []string{"policy", "result"})}
	reg.MustRegister(t.attempts)
	return t
}

// Attempt counts one attempt's TLS; an attempt that reached no server
// (no policy recorded) is not counted.
func (t *TLS) Attempt(a queue.TLS) {
	if t == nil || a.Policy == "" {
		return
	}
	t.attempts.WithLabelValues(a.Policy, TLSResult(a)).Inc()
}

// TLSResult is the result label of a: the failure if a check failed,
// else verified, encrypted or plaintext.
func TLSResult(a queue.TLS) string {
	switch {
	case a.Failure != "":
		return a.Failure
	case a.Verified:
		return "verified"
	case a.Version != "":
		return "encrypted"
	}
	return "plaintext"
}
