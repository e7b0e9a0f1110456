package httpsend_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/authguard"
	"sendpool/internal/clientip"
	"sendpool/internal/httpsend"
	"sendpool/internal/intake"
	"sendpool/internal/queue"
	"sendpool/internal/state/memory"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/testclock"
)

// TestSendBehindProxyTrust: behind a trusted proxy (127.0.0.2) the client
// X-Forwarded-For names is the one /send sees (Received header, throttle);
// a right password earns it trust, a wrong one nothing: once guesses lock
// the account, the client that sent before still sends, a new one and the
// one that only failed are refused, and an untrusted peer's header is
// ignored.
func TestSendBehindProxyTrust(t *testing.T) {
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
	clk := testclock.New()
	ms := memory.New(clk.Now)
	t.Cleanup(func() { ms.Close() })
	guard := authguard.New(authguard.Config{State: ms, Accounts: st, MaxFailures: 10, MaxAccountFailures: 5,
		Window: 15 * time.Minute, TrustedFor: 720 * time.Hour, Now: clk.Now})
	in := intake.New(intake.Config{Accounts: st, Queue: st})
	h := api.New(api.Config{Queue: st, Accounts: st, Send: httpsend.New(httpsend.Config{Intake: in,
		MaxMessageSize: 1 << 20, MaxRecipients: 10, Guard: guard})})
	srv := httptest.NewServer(clientip.Handler([]netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, h))
	t.Cleanup(srv.Close)

	const body = `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"From: a@acme.test\r\nSubject: hi\r\n\r\nhello\r\n"}`
	send := func(local, xff, pass string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/send", strings.NewReader(body))
		req.SetBasicAuth("acme", pass)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := clientFrom(local).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]string
		json.Unmarshal(b, &m)
		return resp.StatusCode, m["id"]
	}

	code, id := send("127.0.0.2", "203.0.113.5", "secret")
	if code != http.StatusOK {
		t.Fatalf("first send: %d", code)
	}
	b, err := st.Body(context.Background(), id)
	if err != nil || !strings.HasPrefix(string(b), "Received: from [203.0.113.5]") {
		t.Errorf("Received of a proxied send: %.60q, %v; want the forwarded client", b, err)
	}
	// A client that only ever failed earns nothing.
	if code, _ := send("127.0.0.2", "203.0.113.6", "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	clk.Add(time.Hour)
	for i := range 5 { // five failures for acme within the window, from five clients
		if code, _ := send("127.0.0.2", "198.51.100."+string(rune('1'+i)), "wrong"); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i+1, code)
		}
	}
	if code, _ := send("127.0.0.2", "203.0.113.5", "secret"); code != http.StatusOK {
		t.Errorf("client that sent an hour ago, account locked: %d, want 200", code)
	}
	for _, xff := range []string{"203.0.113.7", "203.0.113.6"} {
		if code, _ := send("127.0.0.2", xff, "secret"); code != http.StatusTooManyRequests {
			t.Errorf("client %s (new, or only failed), account locked: %d, want 429", xff, code)
		}
	}
	// From a peer that is no trusted proxy the header is ignored: the
	// peer is the client, new to the account.
	if code, _ := send("127.0.0.3", "203.0.113.5", "secret"); code != http.StatusTooManyRequests {
		t.Errorf("untrusted peer naming the trusted client: %d, want 429", code)
	}
	if list, _ := st.ListMessages(context.Background(), queue.Filter{}); len(list) != 2 {
		t.Errorf("%d messages stored, want 2", len(list))
	}
}
