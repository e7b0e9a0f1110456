package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	RegisterBuildInfo(reg, "v1.2.3", "abc123", "go1.26.8")
	got := gather(t, reg)
	if v, ok := got[`sendpool_build_info{commit="abc123",goversion="go1.26.8",version="v1.2.3"}`]; !ok || v != 1 {
		t.Errorf("series: %v", got)
	}
}
