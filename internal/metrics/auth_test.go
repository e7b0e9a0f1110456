package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestAuthLockout(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.AuthLockout("ip")
	m.AuthLockout("ip")
	m.AuthLockout("account")
	var nilM *Metrics
	nilM.AuthLockout("ip")
	got := gather(t, reg)
	if got[`sendpool_auth_lockouts_total{scope="ip"}`] != 2 || got[`sendpool_auth_lockouts_total{scope="account"}`] != 1 {
		t.Errorf("series: %v", got)
	}
}
