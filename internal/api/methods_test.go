package api_test

import (
	"context"
	"io"
	"net/http"
	"testing"
)

// TestWrongMethodAllow: a known path with a method it does not serve answers
// 405 with an Allow header listing the methods it does (RFC 9110 §15.5.6),
// and a JSON error; the 401 before it, without a token, carries no Allow.
func TestWrongMethodAllow(t *testing.T) {
	e := newEnv(t, options{token: "admintoken", ips: newFakeIPs(),
		send: func(ctx context.Context, r *http.Request) (string, error) { return "", nil }})
	for _, tc := range []struct {
		method, path, auth string
		code               int
		allow              string
	}{
		{"PUT", "/api/v1/accounts", "Bearer admintoken", 405, "GET, HEAD, POST"},
		{"POST", "/api/v1/accounts/acme", "Bearer admintoken", 405, "GET, HEAD, PATCH, DELETE"},
		{"GET", "/api/v1/messages/x/retry", "Bearer admintoken", 405, "POST"},
		{"DELETE", "/api/v1/ips", "Bearer admintoken", 405, "GET, HEAD"},
		{"GET", "/api/v1/send", "", 405, "POST"},
		{"HEAD", "/api/v1/send", "", 405, "POST"},
		{"PUT", "/api/v1/accounts", "", 401, ""},
		{"PUT", "/api/v1/accounts", "Bearer nope", 401, ""},
		{"GET", "/api/v1/nothing", "Bearer admintoken", 404, ""},
		{"GET", "/api/v1/nothing", "", 401, ""},
	} {
		req, err := http.NewRequest(tc.method, e.srv.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		what := tc.method + " " + tc.path + " (" + tc.auth + ")"
		if tc.method == "HEAD" {
			body = []byte(`{"error":"HEAD has no body"}`) // the status and headers are the answer
		}
		wantStatus(t, what, resp.StatusCode, body, tc.code)
		if got := resp.Header.Get("Allow"); got != tc.allow {
			t.Errorf("%s: Allow %q, want %q", what, got, tc.allow)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", what, ct)
		}
	}
}
