package metrics

import "github.com/prometheus/client_golang/prometheus"

// RegisterBuildInfo registers sendpool_build_info{version,commit,goversion}
// with the value 1 on reg, the usual shape for a build's identity: joined
// to other series on the instance, it tells which nodes run which build,
// and an alert can catch a fleet left half upgraded.
func RegisterBuildInfo(reg prometheus.Registerer, version, commit, goVersion string) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "sendpool_build_info",
		Help:        "Always 1; the labels name the running build (sendpool version, commit, Go version).",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "goversion": goVersion},
	})
	g.Set(1)
	reg.MustRegister(g)
}
