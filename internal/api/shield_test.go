package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"sendpool/internal/api"
	"sendpool/internal/store/sqlite"
)

// shielded is the API behind api.Shield, on a loopback socket, as a node
// serves it (the listen address is the test server's).
func shielded(t *testing.T, cfg api.ShieldConfig) (*httptest.Server, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "sendpool.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	cfg.Listen = srv.Listener.Addr().String()
	h = api.Shield(api.New(api.Config{Queue: st, Accounts: st, Token: defaultToken}), cfg)
	return srv, st
}

func send(t *testing.T, srv *httptest.Server, method, path, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestShieldCrossSiteRequest: the attack measured in issue 11, a page of
// another site posting text/plain to create an account that owns a bank's
// domain, is refused (403 for the foreign Origin, 415 for the body type
// even without one), and nothing is created; the CLI's own request (JSON,
// no Origin) passes.
func TestShieldCrossSiteRequest(t *testing.T) {
	srv, st := shielded(t, api.ShieldConfig{})
	evil := `{"name":"phish","password":"long-enough-pw","domains":["paypal.com"]}`
	auth := "Bearer " + defaultToken
	for _, c := range []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"foreign Origin, text/plain", map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain", "Authorization": auth}, 403},
		{"foreign Origin, JSON", map[string]string{"Origin": "http://evil.example", "Content-Type": "application/json", "Authorization": auth}, 403},
		{"null Origin", map[string]string{"Origin": "null", "Content-Type": "application/json", "Authorization": auth}, 403},
		{"cross-site fetch metadata", map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json", "Authorization": auth}, 403},
		{"text/plain without Origin", map[string]string{"Content-Type": "text/plain", "Authorization": auth}, 415},
		{"form without Origin", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth}, 415},
		{"no Content-Type", map[string]string{"Authorization": auth}, 415},
	} {
		if code, body := send(t, srv, "POST", "/api/v1/accounts", evil, c.header); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
	}
	if list, _ := st.ListAccounts(t.Context()); len(list) != 0 {
		t.Fatalf("accounts created: %+v", list)
	}
	// The panel's own origin, and a client with no Origin, pass.
	code, body := send(t, srv, "POST", "/api/v1/accounts", `{"name":"shop","password":"long-enough-pw","domains":["shop.test"]}`,
		map[string]string{"Origin": srv.URL, "Content-Type": "application/json; charset=utf-8", "Authorization": auth})
	if code != http.StatusCreated {
		t.Fatalf("same-origin JSON: %d %s", code, body)
	}
	if code, body := send(t, srv, "POST", "/api/v1/messages/none/retry", "", map[string]string{"Authorization": auth}); code != http.StatusNotFound {
		t.Errorf("bodiless POST without Content-Type: %d %s, want 404 (it got past the shield)", code, body)
	}
}

// TestShieldHost: a Host outside the allowed names gets 421 (DNS
// rebinding reads nothing), /healthz excepted; the defaults allow the
// listen address and localhost; http.allowed_hosts and public_url replace
// and extend them.
func TestShieldHost(t *testing.T) {
	srv, _ := shielded(t, api.ShieldConfig{})
	auth := map[string]string{"Authorization": "Bearer " + defaultToken}
	for host, want := range map[string]int{
		"":                       200, // the test server's own address
		"localhost:8025":         200,
		"LOCALHOST":              200,
		"[::1]:8025":             200,
		"rebind.evil.example":    421,
		"rebind.evil.example:80": 421,
		"127.0.0.2":              421,
	} {
		h := map[string]string{"Authorization": auth["Authorization"]}
		if host != "" {
			h["Host"] = host
		}
		if code, body := send(t, srv, "GET", "/api/v1/accounts", "", h); code != want {
			t.Errorf("Host %q: %d %s, want %d", host, code, body, want)
		}
	}
	if code, _ := send(t, srv, "GET", "/healthz", "", map[string]string{"Host": "10.0.0.5:8025"}); code != 200 {
		t.Errorf("/healthz by another name: %d", code)
	}

	srv, _ = shielded(t, api.ShieldConfig{AllowedHosts: []string{"relay.example.net"}, PublicURL: "https://panel.example.net"})
	for host, want := range map[string]int{"relay.example.net:8025": 200, "panel.example.net": 200, "localhost": 421} {
		if code, body := send(t, srv, "GET", "/api/v1/accounts", "", map[string]string{"Host": host,
			"Authorization": auth["Authorization"]}); code != want {
			t.Errorf("allowed_hosts, Host %q: %d %s, want %d", host, code, body, want)
		}
	}
	// Behind a TLS proxy the browser's origin is the public URL's.
	if code, body := send(t, srv, "POST", "/api/v1/accounts", `{"name":"shop","password":"long-enough-pw"}`,
		map[string]string{"Host": "panel.example.net", "Origin": "https://panel.example.net", "Content-Type": "application/json",
			"Authorization": auth["Authorization"]}); code != http.StatusCreated {
		t.Errorf("public_url origin: %d %s", code, body)
	}
}
