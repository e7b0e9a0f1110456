package addrpolicy

import (
	"net/netip"
	"testing"
)

func TestAllows(t *testing.T) {
	p := Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("fd00::/64")}}
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"192.0.2.1", true}, // documentation range, but not private: public as far as routing goes
		{"8.8.8.8", true},
		{"127.0.0.1", true}, // allowed network
		{"::ffff:127.0.0.1", true},
		{"10.0.0.1", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"::1", false},
		{"fe80::1", false},
		{"fd00::1", true},
		{"fd01::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"224.0.0.1", false},
		{"::ffff:10.0.0.1", false},
	} {
		if got := p.Allows(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Allows(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if (Policy{}).Allows(netip.MustParseAddr("127.0.0.1")) {
		t.Error("loopback allowed with no allowed networks")
	}
	if (Policy{}).Allows(netip.Addr{}) {
		t.Error("the zero address allowed")
	}
}
