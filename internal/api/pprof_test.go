package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
