package api_test

import (
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/apiclient"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/suppression"
	"sendpool/internal/suppression/suppressiontest"
	"sendpool/internal/testclock"
)

// suppressionEnv is the API with its suppression routes over a real SQLite
// store, on a settable clock.
type suppressionEnv struct {
	*env
	clk   *testclock.Clock
	added int
}

func newSuppressionEnv(t *testing.T) *suppressionEnv {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "sendpool.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &suppressionEnv{clk: testclock.New()}
	h := api.New(api.Config{
		Queue: st, Accounts: st, Now: e.clk.Now, Token: "t0ken",
		Logger:       slog.New(slog.NewTextHandler(testLog{t}, nil)),
		Suppressions: &api.Suppressions{Store: st, OnAdded: func() { e.added++ }},
	})
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	e.env = &env{srv: hs, store: st, token: "t0ken"}
	for _, name := range []string{"shop1", "shop2"} {
		if err := st.CreateAccount(t.Context(), &account.Account{Name: name, Status: account.StatusActive}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// TestSuppressionRoutes: list, add and remove an account's entries, with
// the wire shape of SPEC §7; expired entries are not listed; unknown
// accounts and entries are 404, bad input 400.
func TestSuppressionRoutes(t *testing.T) {
	e := newSuppressionEnv(t)
	ctx := t.Context()
	now := e.clk.Now()
	bounced := suppressiontest.Entry("shop1", "bob@gmail.test", now.Add(-time.Hour))
	old := suppressiontest.Entry("shop1", "old@gmail.test", now.Add(-800*time.Hour))
	for _, x := range []*suppression.Entry{bounced, old, suppressiontest.Entry("shop2", "carol@gmail.test", now)} {
		if err := e.store.PutSuppression(ctx, x); err != nil {
			t.Fatal(err)
		}
	}

	code, body := e.do(t, "GET", "/api/v1/accounts/shop1/suppressions", "")
	wantStatus(t, "list", code, body, 200)
	raw := decode[[]map[string]any](t, body)
	if len(raw) != 1 {
		t.Fatalf("list: %s; want bob only (old expired, carol is shop2's)", body)
	}
	var ks []string
	for k := range raw[0] {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	if want := []string{"address", "created", "expires", "message_id", "reason", "reply"}; !slices.Equal(ks, want) {
		t.Errorf("entry keys %v, want %v", ks, want)
	}
	c := apiclient.New(e.srv.URL, "t0ken")
	list, err := c.Suppressions(ctx, "shop1")
	if err != nil || len(list) != 1 {
		t.Fatalf("client list: %v, %v", list, err)
	}
	if s := list[0]; s.Address != "bob@gmail.test" || s.Reason != "bad-mailbox" || s.Reply != bounced.Reply ||
		s.MessageID != bounced.MessageID || !s.Created.Equal(bounced.Created) || s.Expires == nil || !s.Expires.Equal(bounced.Expires) {
		t.Errorf("listed %+v, want %+v", s, bounced)
	}

	// An admin adds one: no reply, no expiry unless asked, listed first.
	got, err := c.Suppress(ctx, "shop1", api.SuppressionRequest{Address: " <Dave@Gmail.test> ", Reason: "asked us"})
	if err != nil || got.Address != "Dave@Gmail.test" || got.Reason != "asked us" || got.Reply != "" ||
		got.Expires != nil || !got.Created.Equal(now) || e.added != 1 {
		t.Fatalf("Suppress = %+v, %v (counted %d)", got, err, e.added)
	}
	got, err = c.Suppress(ctx, "shop1", api.SuppressionRequest{Address: "erin@gmail.test", Duration: "48h"})
	if err != nil || got.Reason != suppression.ReasonManual || got.Expires == nil || !got.Expires.Equal(now.Add(48*time.Hour)) {
		t.Fatalf("Suppress with a duration = %+v, %v", got, err)
	}
	if e, err := e.store.GetSuppression(ctx, "shop1", "Dave@gmail.TEST"); err != nil || e.Reason != "asked us" {
		t.Fatalf("stored: %+v, %v", e, err)
	}
	if list, _ := c.Suppressions(ctx, "shop1"); len(list) != 3 {
		t.Fatalf("after adding two: %+v", list)
	}

	// Remove: once, then 404; the domain's case does not matter.
	if err := c.Unsuppress(ctx, "shop1", "bob@GMAIL.test"); err != nil {
		t.Fatalf("Unsuppress: %v", err)
	}
	if err := c.Unsuppress(ctx, "shop1", "bob@gmail.test"); !apiclient.IsNotFound(err) {
		t.Fatalf("Unsuppress twice: %v, want 404", err)
	}
	// A local part may hold a slash (RFC 5322 atext): one path segment still.
	if _, err := c.Suppress(ctx, "shop1", api.SuppressionRequest{Address: "a/b@gmail.test"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Unsuppress(ctx, "shop1", "a/b@gmail.test"); err != nil {
		t.Fatalf("Unsuppress of a/b@gmail.test: %v", err)
	}
	if _, err := e.store.GetSuppression(ctx, "shop2", "carol@gmail.test"); err != nil {
		t.Fatalf("shop2's entry after shop1's removals: %v", err)
	}

	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/api/v1/accounts/nobody/suppressions", "", 404},
		{"POST", "/api/v1/accounts/nobody/suppressions", `{"address":"a@b.test"}`, 404},
		{"DELETE", "/api/v1/accounts/nobody/suppressions/a@b.test", "", 404},
		{"DELETE", "/api/v1/accounts/shop1/suppressions/nobody@gmail.test", "", 404},
		{"POST", "/api/v1/accounts/shop1/suppressions", `{"address":"not an address"}`, 400},
		{"POST", "/api/v1/accounts/shop1/suppressions", `{"address":"a@[192.0.2.1]"}`, 400},
		{"POST", "/api/v1/accounts/shop1/suppressions", `{"address":"a@b.test","duration":"-1h"}`, 400},
		{"POST", "/api/v1/accounts/shop1/suppressions", `{"address":"a@b.test","colour":"red"}`, 400},
		{"GET", "/api/v1/accounts/shop1/suppressions?limit=x", "", 400},
		{"PUT", "/api/v1/accounts/shop1/suppressions", "", 405},
	} {
		code, body := e.do(t, tc.method, tc.path, tc.body)
		wantStatus(t, tc.method+" "+tc.path+" "+tc.body, code, body, tc.want)
	}
	// The admin token guards every route.
	code, body = e.doAuth(t, "GET", "/api/v1/accounts/shop1/suppressions", "", "")
	wantStatus(t, "list without token", code, body, 401)
}
