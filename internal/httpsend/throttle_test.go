package httpsend_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/authguard"
	"sendpool/internal/httpsend"
	"sendpool/internal/intake"
	"sendpool/internal/state/memory"
	"sendpool/internal/store/sqlite"
)

// clientFrom is an HTTP client whose connections come from local, a
// loopback address the server on 127.0.0.1 sees as the client's IP.
func clientFrom(local string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// TestSendThrottled: after ten wrong passwords from one IP, POST
// /api/v1/send answers 429 with Retry-After even to the right one; another
// IP still sends.
func TestSendThrottled(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "q.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hash, err := account.HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAccount(context.Background(), &account.Account{Name: "acme", PasswordHash: hash,
		Domains: []string{"acme.test"}, Status: account.StatusActive}); err != nil {
		t.Fatal(err)
	}
	state := memory.New(nil)
	t.Cleanup(func() { state.Close() })
	guard := authguard.New(authguard.Config{State: state, Accounts: st, MaxFailures: 10, MaxAccountFailures: 50,
		Window: 15 * time.Minute})
	in := intake.New(intake.Config{Accounts: st, Queue: st})
	h := api.New(api.Config{Queue: st, Accounts: st, Send: httpsend.New(httpsend.Config{Intake: in,
		MaxMessageSize: 1 << 20, MaxRecipients: 10, Guard: guard})})
	srv := httptest.NewServer(h) // on 127.0.0.1
	t.Cleanup(srv.Close)

	const body = `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"From: a@acme.test\r\nSubject: hi\r\n\r\nhello\r\n"}`
	send := func(c *http.Client, pass string) (*http.Response, map[string]string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/send", strings.NewReader(body))
		req.SetBasicAuth("acme", pass)
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

	c1 := clientFrom("127.0.0.1")
	for i := range 10 {
		if resp, m := send(c1, "wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d %v, want 401", i+1, resp.StatusCode, m)
		}
	}
	resp, m := send(c1, "secret")
	if resp.StatusCode != http.StatusTooManyRequests || m["error"] != "454 4.7.0 Too many authentication failures, try again later" {
		t.Fatalf("right password after 10 failures: %d %v, want 429 and the 454 text", resp.StatusCode, m)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 900 {
		t.Errorf("Retry-After %q, want 1..900 seconds (the window is 15m)", resp.Header.Get("Retry-After"))
	}
	if resp, m := send(clientFrom("127.0.0.2"), "secret"); resp.StatusCode != http.StatusOK || m["id"] == "" {
		t.Errorf("another IP: %d %v, want 200 with an id", resp.StatusCode, m)
	}
}
