package web

import (
	"testing"
	"time"

	"sendpool/internal/dnsrec"
	"sendpool/internal/testclock"
)

func TestCheckCacheBoundedAndExpiring(t *testing.T) {
	t0 := testclock.New().Now()
	c := newCheckCache(3, time.Minute)
	fp := fingerprint([]dnsrec.Record{{Type: "TXT", Name: "a.test", Value: "v=spf1 -all", Purpose: dnsrec.PurposeSPF}})
	for i, n := range []string{"a.test", "b.test", "c.test"} {
		c.put(n, fp, &dnsrec.Report{Domain: n}, t0.Add(time.Duration(i)*time.Second))
	}
	// Full: the oldest (a.test) goes.
	c.put("d.test", fp, &dnsrec.Report{Domain: "d.test"}, t0.Add(3*time.Second))
	if c.len() != 3 {
		t.Fatalf("len %d, want 3", c.len())
	}
	if _, _, ok := c.get("a.test", fp, t0.Add(3*time.Second)); ok {
		t.Error("oldest entry kept past the bound")
	}
	if rep, at, ok := c.get("b.test", fp, t0.Add(60*time.Second)); !ok || rep.Domain != "b.test" || !at.Equal(t0.Add(time.Second)) {
		t.Errorf("b.test 59 s after its check: %v %v %v", rep, at, ok)
	}
	if _, _, ok := c.get("b.test", fp, t0.Add(61*time.Second)); ok {
		t.Error("b.test kept 60 s after its check")
	}
	// Other records to publish: the check is not reused.
	other := fingerprint([]dnsrec.Record{{Type: "TXT", Name: "a.test", Value: "v=spf1 ~all", Purpose: dnsrec.PurposeSPF}})
	if _, _, ok := c.get("c.test", other, t0.Add(3*time.Second)); ok {
		t.Error("check reused for other records")
	}
	// Full with expired entries: they all go, the live one stays.
	c.put("e.test", fp, &dnsrec.Report{}, t0.Add(62*time.Second))
	if c.len() != 2 {
		t.Errorf("after expiry eviction: len %d, want 2 (d.test, e.test)", c.len())
	}
}
