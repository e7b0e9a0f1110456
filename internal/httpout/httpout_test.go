package httpout

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

type fixedResolver map[string][]netip.Addr

func (r fixedResolver) LookupIP(_ context.Context, host string) ([]netip.Addr, error) {
	return r[host], nil
}

// TestDestinations: a name is resolved through the given resolver, a
// loopback destination is refused unless allowed, and the request then
// goes through.
func TestDestinations(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	res := fixedResolver{"policy.example": {netip.MustParseAddr("127.0.0.1")}}

	refusing := New(Config{Resolver: res})
	_, err := refusing.Get("http://policy.example:" + port + "/")
	if err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("loopback without allowed_networks: err %v", err)
	}
	_, err = refusing.Get("http://127.0.0.1:" + port + "/")
	if err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("loopback literal: err %v", err)
	}

	allowing := New(Config{Resolver: res, Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	resp, err := allowing.Get("http://policy.example:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Errorf("body %q", body)
	}
	if _, err := allowing.Get("http://unknown.example:" + port + "/"); err == nil {
		t.Error("a name the resolver does not know was reached")
	}
}

func TestAllowed(t *testing.T) {
	for addr, want := range map[string]bool{
		"192.0.2.1": true, "2001:db8::1": true, "10.0.0.1": false, "127.0.0.1": false, "169.254.1.1": false,
		"::1": false, "0.0.0.0": false, "224.0.0.1": false, "::ffff:10.1.2.3": false, "fd00::1": false,
	} {
		if got := Allowed(netip.MustParseAddr(addr), nil); got != want {
			t.Errorf("%s: %v, want %v", addr, got, want)
		}
	}
}
