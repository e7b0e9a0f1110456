package api_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/authguard"
	"sendpool/internal/clientip"
	"sendpool/internal/state/memory"
)

// TestTokenThrottleBehindProxy: behind a trusted proxy (127.0.0.2) the
// admin-token throttle counts the client X-Forwarded-For names, not the
// proxy, so one guesser does not lock out everyone behind it; from any
// other peer the header is ignored, and the peer is counted.
func TestTokenThrottleBehindProxy(t *testing.T) {
	st := memory.New(nil)
	t.Cleanup(func() { st.Close() })
	guard := authguard.New(authguard.Config{State: st, MaxFailures: 10, Window: 15 * time.Minute})
	h := clientip.Handler([]netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, api.New(api.Config{Token: "t0ken", Guard: guard}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	get := func(local, xff, token string) int {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/nothing-here", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// A guesser behind the proxy, who also writes a header of its own
	// (the proxy appends the address it saw): it is counted as itself.
	for i := range 10 {
		if code := get("127.0.0.2", "192.0.2.66, 198.51.100.7", "guess"); code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i+1, code)
		}
	}
	if code := get("127.0.0.2", "198.51.100.7", "t0ken"); code != http.StatusTooManyRequests {
		t.Errorf("the guesser through the proxy: %d, want 429", code)
	}
	if code := get("127.0.0.2", "192.0.2.66", "t0ken"); code != http.StatusNotFound {
		t.Errorf("the address the guesser wrote itself: %d, want 404 (not locked)", code)
	}
	if code := get("127.0.0.2", "198.51.100.8", "t0ken"); code != http.StatusNotFound {
		t.Errorf("another client through the proxy: %d, want 404", code)
	}

	// Not a trusted proxy: the header is ignored and the peer counted, so
	// naming someone else neither escapes the lock nor locks them.
	for range 10 {
		get("127.0.0.3", "198.51.100.9", "guess")
	}
	if code := get("127.0.0.3", "198.51.100.10", "t0ken"); code != http.StatusTooManyRequests {
		t.Errorf("untrusted peer naming a new client: %d, want 429 (its own failures)", code)
	}
	if code := get("127.0.0.2", "198.51.100.9", "t0ken"); code != http.StatusNotFound {
		t.Errorf("the client the untrusted peer named: %d, want 404 (never counted)", code)
	}
}
