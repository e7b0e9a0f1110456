package web_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/authguard"
	"sendpool/internal/state/memory"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/web"
)

// TestLoginThrottled: after ten wrong tokens from one IP the login page
// refuses even the right one (429, Retry-After, the error shown, no
// session); another IP still logs in.
func TestLoginThrottled(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "sendpool.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ms := memory.New(nil)
	t.Cleanup(func() { ms.Close() })
	guard := authguard.New(authguard.Config{State: ms, MaxFailures: 10, Window: 15 * time.Minute})
	h, err := web.Mount(web.Config{Queue: st, Accounts: st, Token: token, Guard: guard},
		api.New(api.Config{Queue: st, Accounts: st, Token: token, Guard: guard}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h) // 127.0.0.1
	t.Cleanup(srv.Close)

	from := func(local string) *http.Client {
		c := client(t)
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c.Transport = &http.Transport{DialContext: d.DialContext}
		c.Timeout = 20 * time.Second
		return c
	}
	login := func(c *http.Client, tok string) (int, string, http.Header) {
		t.Helper()
		_, page, _ := get(t, c, srv.URL+"/login")
		return post(t, c, srv.URL+"/login", url.Values{"csrf": {csrfOf(t, page)}, "password": {tok}})
	}

	c := from("127.0.0.1")
	for i := range 10 {
		if code, body, _ := login(c, "guess"); code != http.StatusUnauthorized || !strings.Contains(body, "wrong account or password") {
			t.Fatalf("wrong token %d: %d", i+1, code)
		}
	}
	code, body, h2 := login(c, token)
	if code != http.StatusTooManyRequests || !strings.Contains(body, api.ThrottledText) || h2.Get("Set-Cookie") != "" {
		t.Fatalf("right token after 10 wrong: %d, cookie %q, body:\n%s", code, h2.Get("Set-Cookie"), body)
	}
	if ra, err := strconv.Atoi(h2.Get("Retry-After")); err != nil || ra < 1 || ra > 900 {
		t.Errorf("Retry-After %q, want 1..900 seconds", h2.Get("Retry-After"))
	}
	if code, _, _ := get(t, c, srv.URL+"/accounts"); code != http.StatusSeeOther {
		t.Errorf("logged in after all: GET /accounts %d", code)
	}
	if code, _, h := login(from("127.0.0.2"), token); code != http.StatusSeeOther || h.Get("Set-Cookie") == "" {
		t.Errorf("another IP: %d, cookie %q; want logged in", code, h.Get("Set-Cookie"))
	}
}
