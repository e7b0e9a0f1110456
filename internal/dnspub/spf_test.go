package dnspub

import (
	"strings"
	"testing"
)

func TestMergeSPF(t *testing.T) {
	inc := []string{"include:_spf.relay.test"}
	for _, tc := range []struct{ rec, want string }{
		// Before "all", whatever its qualifier (RFC 7208 §5.1).
		{"v=spf1 mx -all", "v=spf1 mx include:_spf.relay.test -all"},
		{"v=spf1 a mx ~all", "v=spf1 a mx include:_spf.relay.test ~all"},
		{"v=spf1 ?all", "v=spf1 include:_spf.relay.test ?all"},
		// No "all": before the first modifier, or at the end.
		{"v=spf1 mx redirect=_spf.other.test", "v=spf1 mx include:_spf.relay.test redirect=_spf.other.test"},
		{"v=spf1 mx", "v=spf1 mx include:_spf.relay.test"},
		// Already there: nothing added twice, case aside.
		{"v=spf1 INCLUDE:_spf.relay.test -all", "v=spf1 INCLUDE:_spf.relay.test -all"},
	} {
		if got := mergeSPF(tc.rec, inc); got != tc.want {
			t.Errorf("mergeSPF(%q) = %q, want %q", tc.rec, got, tc.want)
		}
	}
	ips := spfTerms("v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 ~all")
	if got := strings.Join(ips, " "); got != "ip4:192.0.2.1 ip6:2001:db8::1" {
		t.Fatalf("spfTerms = %q", got)
	}
	if got := mergeSPF("v=spf1 mx -all", ips); got != "v=spf1 mx ip4:192.0.2.1 ip6:2001:db8::1 -all" {
		t.Fatalf("merge of ip terms = %q", got)
	}
}

func TestUnmergeSPFLeavesTheRest(t *testing.T) {
	got := unmergeSPF("v=spf1 mx include:_spf.relay.test include:other.test -all", []string{"include:_spf.relay.test"})
	if got != "v=spf1 mx include:other.test -all" {
		t.Fatalf("unmergeSPF = %q", got)
	}
}

func TestIsSPF(t *testing.T) {
	for v, want := range map[string]bool{"v=spf1": true, "V=SPF1 -all": true, "v=spf10 -all": false,
		"google-site-verification=x": false, "v=DMARC1; p=none": false} {
		if isSPF(v) != want {
			t.Errorf("isSPF(%q) = %v", v, !want)
		}
	}
}
