package api_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/authguard"
	"sendpool/internal/state/memory"
)

// TestTokenThrottled: after ten wrong admin tokens from one IP, the API
// answers 429 with Retry-After even to the right token; another IP and a
// request without credentials are not affected.
func TestTokenThrottled(t *testing.T) {
	st := memory.New(nil)
	t.Cleanup(func() { st.Close() })
	guard := authguard.New(authguard.Config{State: st, MaxFailures: 10, Window: 15 * time.Minute})
	srv := httptest.NewServer(api.New(api.Config{Token: "t0ken", Guard: guard})) // on 127.0.0.1
	t.Cleanup(srv.Close)

	get := func(local, token string) (*http.Response, map[string]string) {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/nothing-here", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%d %s: not JSON: %v", resp.StatusCode, b, err)
		}
		return resp, m
	}
	// Requests without credentials are refused but not counted.
	for range 12 {
		if resp, _ := get("127.0.0.1", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("no token: %d, want 401", resp.StatusCode)
		}
	}
	// The right token reaches the route (404: no such route).
	if resp, _ := get("127.0.0.1", "t0ken"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("right token: %d, want 404", resp.StatusCode)
	}
	for i := range 10 {
		if resp, _ := get("127.0.0.1", "guess"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp, m := get("127.0.0.1", "t0ken")
	if resp.StatusCode != http.StatusTooManyRequests || m["error"] != api.ThrottledText {
		t.Fatalf("right token after 10 wrong: %d %v, want 429 %q", resp.StatusCode, m, api.ThrottledText)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 900 {
		t.Errorf("Retry-After %q, want 1..900 seconds", resp.Header.Get("Retry-After"))
	}
	if resp, _ := get("127.0.0.2", "t0ken"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another IP with the right token: %d, want 404", resp.StatusCode)
	}
}
