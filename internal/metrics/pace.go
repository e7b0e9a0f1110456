package metrics

import "github.com/prometheus/client_golang/prometheus"

// Pace shows the pool's paces after rate-limit replies; it implements
// pool.PaceGauge.
type Pace struct {
	rate  *prometheus.GaugeVec
	paced *prometheus.CounterVec
}

// NewPace registers sendpool_ip_pace_rate{ip,provider} and
// sendpool_ip_paced_total{ip,provider} on reg.
func NewPace(reg prometheus.Registerer) *Pace {
	p := &Pace{
		rate: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sendpool_ip_pace_rate",
			Help: "Messages per pool.pace_window a source IP may send to a provider that asked it to slow down; 0: not paced.",
		}, []string{"ip", "provider"}),
		paced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendpool_ip_paced_total",
			Help: "Times a provider's rate-limit reply slowed a source IP down.",
		}, []string{"ip", "provider"}),
	}
	reg.MustRegister(p.rate, p.paced)
	return p
}

// SetPace records ip's rate to provider; 0 when the pace ended (the series
// stays, at 0, so alerts see it recover).
func (p *Pace) SetPace(ip, provider string, rate int) {
	if p != nil {
		p.rate.WithLabelValues(ip, provider).Set(float64(rate))
	}
}

// Paced counts one slowing down of ip for provider.
func (p *Pace) Paced(ip, provider string) {
	if p != nil {
		p.paced.WithLabelValues(ip, provider).Inc()
	}
}
