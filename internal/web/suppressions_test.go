package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/suppression"
	"sendpool/internal/suppression/suppressiontest"
	"sendpool/internal/testclock"
	"sendpool/internal/web"
)

// newSuppressionEnv is the panel with the suppression lists over a real
// SQLite store holding accounts shop1 and shop2.
func newSuppressionEnv(t *testing.T, clock *testclock.Clock) *env {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "sendpool.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	apiH := api.New(api.Config{Queue: st, Accounts: st, Token: token, Logger: logger, Now: clock.Now,
		Suppressions: &api.Suppressions{Store: st}})
	h, err := web.Mount(web.Config{Queue: st, Accounts: st, Token: token, Logger: logger, Now: clock.Now,
		Suppressions: st}, apiH)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for _, name := range []string{"shop1", "shop2"} {
		if err := st.CreateAccount(t.Context(), &account.Account{Name: name, Status: account.StatusActive}); err != nil {
			t.Fatal(err)
		}
	}
	return &env{srv: srv, store: st}
}

// TestSuppressionsPage: the accounts page links to each account's list;
// the list shows its active entries (escaped) with the reply and the
// message; the remove button (CSRF-checked) removes one; unknown accounts
// are 404.
func TestSuppressionsPage(t *testing.T) {
	clock := testclock.New()
	e := newSuppressionEnv(t, clock)
	now := clock.Now()
	bob := suppressiontest.Entry("shop1", "bob@gmail.test", now)
	bob.Reply = "550 5.1.1 <bob@gmail.test>: User unknown"
	old := suppressiontest.Entry("shop1", "old@gmail.test", now.Add(-1000*time.Hour))
	for _, x := range []*suppression.Entry{bob, old, suppressiontest.Entry("shop2", "carol@gmail.test", now)} {
		if err := e.store.PutSuppression(t.Context(), x); err != nil {
			t.Fatal(err)
		}
	}
	c := client(t)
	csrf := e.login(t, c)

	_, page, _ := get(t, c, e.srv.URL+"/accounts")
	if !strings.Contains(page, `href="/accounts/shop1/suppressions"`) {
		t.Errorf("accounts page does not link to the suppressions:\n%s", page)
	}
	code, page, _ := get(t, c, e.srv.URL+"/accounts/shop1/suppressions")
	if code != http.StatusOK {
		t.Fatalf("suppressions page: %d\n%s", code, page)
	}
	for _, want := range []string{"bob@gmail.test", "550 5.1.1 &lt;bob@gmail.test&gt;: User unknown",
		`href="/messages/0msgshop1"`, "bad-mailbox", `action="/accounts/shop1/suppressions/remove"`} {
		if !strings.Contains(page, want) {
			t.Errorf("suppressions page lacks %q:\n%s", want, page)
		}
	}
	for _, not := range []string{"old@gmail.test", "carol@gmail.test"} {
		if strings.Contains(page, not) {
			t.Errorf("suppressions page shows %s (expired, or another account's)", not)
		}
	}

	// Without the CSRF token nothing happens.
	code, _, _ = post(t, c, e.srv.URL+"/accounts/shop1/suppressions/remove", url.Values{"address": {"bob@gmail.test"}})
	if code != http.StatusForbidden {
		t.Fatalf("remove without CSRF: %d, want 403", code)
	}
	code, _, h := post(t, c, e.srv.URL+"/accounts/shop1/suppressions/remove",
		url.Values{"csrf": {csrf}, "address": {"bob@gmail.test"}})
	if code != http.StatusSeeOther || h.Get("Location") != "/accounts/shop1/suppressions" {
		t.Fatalf("remove: %d to %q", code, h.Get("Location"))
	}
	if _, err := e.store.GetSuppression(t.Context(), "shop1", "bob@gmail.test"); err != suppression.ErrNotFound {
		t.Fatalf("after remove: %v, want ErrNotFound", err)
	}
	code, _, _ = post(t, c, e.srv.URL+"/accounts/shop1/suppressions/remove",
		url.Values{"csrf": {csrf}, "address": {"bob@gmail.test"}})
	if code != http.StatusNotFound {
		t.Errorf("remove twice: %d, want 404", code)
	}
	if code, _, _ := get(t, c, e.srv.URL+"/accounts/nobody/suppressions"); code != http.StatusNotFound {
		t.Errorf("unknown account's page: %d, want 404", code)
	}
}
