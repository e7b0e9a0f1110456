package metrics

import "github.com/prometheus/client_golang/prometheus"

// Inbound counts what the MX decides (internal/inbound): every decision
// by action and check, and the DNSBL answers that were a zone's error.
type Inbound struct {
	decisions  *prometheus.CounterVec
	zoneErrors *prometheus.CounterVec
}

// NewInbound registers sendpool_inbound_decisions_total{action,check} and
// sendpool_inbound_dnsbl_zone_errors_total{zone} on reg; accepted, and
// the zones given, at 0 from the start.
func NewInbound(reg prometheus.Registerer, zones []string) *Inbound {
	m := &Inbound{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendpool_inbound_decisions_total",
			Help: "Decisions of the MX, by action (accepted, tagged, rejected, deferred, dropped) and the check that decided.",
		}, []string{"action", "check"}),
		zoneErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendpool_inbound_dnsbl_zone_errors_total",
			Help: "DNSBL answers ignored as the zone's error (127.255.255.0/24, or a code not configured), by zone.",
		}, []string{"zone"}),
	}
	m.decisions.WithLabelValues("accepted", "")
	for _, z := range zones {
		m.zoneErrors.WithLabelValues(z)
	}
	reg.MustRegister(m.decisions, m.zoneErrors)
	return m
}

// Decision counts one decision.
func (m *Inbound) Decision(action, check string) {
	if m != nil {
		m.decisions.WithLabelValues(action, check).Inc()
	}
}

// ZoneError counts one zone error.
func (m *Inbound) ZoneError(zone string) {
	if m != nil {
		m.zoneErrors.WithLabelValues(zone).Inc()
	}
}
