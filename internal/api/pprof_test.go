package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"sendpool/internal/api"
)

// http.pprof serves the runtime's profiles, to the admin only; off, the
// route does not exist.
func TestPprof(t *testing.T) {
	get := func(h http.Handler, token string) (int, string) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/debug/pprof/goroutine?debug=1", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	on := api.New(api.Config{Token: "tok", Pprof: true})
	if code, body := get(on, "tok"); code != http.StatusOK || !strings.Contains(body, "goroutine profile") {
		t.Errorf("with the token: %d %.80q", code, body)
	}
	if code, _ := get(on, ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", code)
	}
	off := api.New(api.Config{Token: "tok"})
	if code, _ := get(off, "tok"); code != http.StatusNotFound {
		t.Errorf("pprof off: %d, want 404", code)
	}
}

// TestPprofOutlastsWriteTimeout: a CPU profile streams for as long as it
// is asked, past the server's write timeout (http.write_timeout):
// net/http/pprof moves the connection's write deadline by the profile's
// duration itself (Go 1.23 on), so the bench's profiles keep working.
func TestPprofOutlastsWriteTimeout(t *testing.T) {
	srv := httptest.NewUnstartedServer(api.New(api.Config{Token: "tok", Pprof: true}))
	srv.Config.WriteTimeout = time.Second
	srv.Start()
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/debug/pprof/profile?seconds=2", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || len(b) == 0 {
		t.Fatalf("a 2 s profile under a 1 s write timeout: %d, %d bytes, %v", resp.StatusCode, len(b), err)
	}
}
