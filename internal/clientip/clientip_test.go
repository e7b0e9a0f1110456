package clientip

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestForwarded(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ff::/48")}
	lb, lb2 := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.1.0.9")
	for _, c := range []struct {
		name string
		peer netip.Addr
		xff  []string
		want string
	}{
		{"no header", lb, nil, "10.0.0.5"},
		{"untrusted peer: header ignored", netip.MustParseAddr("203.0.113.9"), []string{"198.51.100.7"}, "203.0.113.9"},
		{"one hop", lb, []string{"198.51.100.7"}, "198.51.100.7"},
		{"client's own entry left of the proxy's is ignored", lb, []string{"192.0.2.66, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies skipped", lb, []string{"192.0.2.66, 198.51.100.7, 10.2.3.4", "10.1.0.9"}, "198.51.100.7"},
		{"several fields read as one list", lb, []string{"198.51.100.7", "10.1.0.9"}, "198.51.100.7"},
		{"spaces and ports", lb, []string{" 198.51.100.7:4711 ,  10.1.0.9 "}, "198.51.100.7"},
		{"IPv6 with port", lb, []string{"[2001:db8::7]:4711"}, "2001:db8::7"},
		{"IPv6 with zone", lb, []string{"fe80::1%eth0"}, "fe80::1"},
		{"IPv4-mapped", lb, []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"trusted IPv6 proxy", netip.MustParseAddr("2001:db8:ff::1"), []string{"198.51.100.7"}, "198.51.100.7"},
		{"all trusted: the left-most", lb, []string{"10.9.9.9, 10.1.0.9"}, "10.9.9.9"},
		{"garbage: the proxy that wrote it", lb2, []string{"198.51.100.7, unknown, 10.3.3.3"}, "10.3.3.3"},
		{"garbage next to the peer", lb, []string{"198.51.100.7, not-an-ip"}, "10.0.0.5"},
		{"empty field", lb, []string{""}, "10.0.0.5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Forwarded(c.peer, c.xff, trusted); got.String() != c.want {
				t.Errorf("Forwarded(%s, %q) = %s, want %s", c.peer, c.xff, got, c.want)
			}
		})
	}
	if got := Forwarded(lb, []string{"198.51.100.7"}, nil); got != lb {
		t.Errorf("no trusted proxies: %s, want the peer", got)
	}
}

// TestHandler: over real sockets, the header counts from a trusted peer
// only; From without the Handler is the peer.
func TestHandler(t *testing.T) {
	h := Handler([]netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, From(r).String())
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	get := func(local, xff string) string {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get("127.0.0.2", "198.51.100.7"); got != "198.51.100.7" {
		t.Errorf("from the trusted proxy: %s", got)
	}
	if got := get("127.0.0.3", "198.51.100.7"); got != "127.0.0.3" {
		t.Errorf("from another peer: %s, want the peer", got)
	}
	if got := From(httptest.NewRequest("GET", "/", nil)); got.String() != "192.0.2.1" {
		t.Errorf("From without Handler: %s, want the peer", got)
	}
}
