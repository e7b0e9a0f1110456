package testenv

import (
	"strings"
	"testing"
)

// DNSSECVar names the DNSSEC world of scripts/services/dnssec: "ADDR ZONE
// DIR", the validating resolver, the signed zone and the directory of its
// MX hosts' certificates.
const DNSSECVar = "SENDPOOL_TEST_DNSSEC"

// DNSSECWorld is what scripts/services/dnssec started.
type DNSSECWorld struct {
	Resolver string // ip:port of the validating resolver (unbound)
	Zone     string // the signed zone, e.g. "dane.test"
	Dir      string // mx.key, mx-chain.crt (the MX hosts'), ca.crt
}

// DNSSEC returns the test DNSSEC world.
func DNSSEC(t testing.TB) DNSSECWorld {
	v := need(t, DNSSECVar, "scripts/services/dnssec")
	f := strings.Fields(v)
	if len(f) != 3 {
		t.Fatalf("%s=%q: want \"ADDR ZONE DIR\"", DNSSECVar, v)
	}
	return DNSSECWorld{Resolver: f[0], Zone: f[1], Dir: f[2]}
}
