package main

import (
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/suppression/suppressiontest"
	"sendpool/internal/testclock"
)

// TestAdminSuppressions: account suppressions lists the account's entries
// as a table or JSON, suppress adds one (with a reason and a duration),
// unsuppress removes one and fails on a second go.
func TestAdminSuppressions(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "sendpool.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := testclock.New()
	srv := httptest.NewServer(api.New(api.Config{Queue: st, Accounts: st, Token: "tok", Now: clock.Now,
		Suppressions: &api.Suppressions{Store: st}}))
	t.Cleanup(srv.Close)
	t.Setenv("SENDPOOL_API", srv.URL)
	t.Setenv("SENDPOOL_TOKEN", "tok")
	ctx := t.Context()
	if err := st.CreateAccount(ctx, &account.Account{Name: "shop1", Status: account.StatusActive}); err != nil {
		t.Fatal(err)
	}
	bob := suppressiontest.Entry("shop1", "bob@gmail.test", clock.Now())
	if err := st.PutSuppression(ctx, bob); err != nil {
		t.Fatal(err)
	}

	out := mustAdmin(t, "account", "suppressions", "shop1")
	wantContains(t, "suppressions", out, "ADDRESS", "SINCE", "EXPIRES", "REASON", "REPLY", "bob@gmail.test",
		"bad-mailbox", bob.Reply, bob.Expires.Local().Format(time.DateTime))

	out = mustAdmin(t, "account", "suppress", "shop1", "dave@gmail.test", "-reason", "asked us to stop")
	wantContains(t, "suppress", out, "dave@gmail.test", "asked us to stop", "never")
	mustAdmin(t, "account", "suppress", "shop1", "-for", "48h", "erin@gmail.test")
	var list []api.Suppression
	if err := json.Unmarshal([]byte(mustAdmin(t, "account", "suppressions", "shop1", "-json")), &list); err != nil || len(list) != 3 {
		t.Fatalf("suppressions -json: %v, %v", list, err)
	}
	for _, s := range list {
		if s.Address == "erin@gmail.test" && (s.Expires == nil || !s.Expires.Equal(clock.Now().Add(48*time.Hour))) {
			t.Errorf("erin's entry %+v, want it to expire in 48h", s)
		}
	}

	out = mustAdmin(t, "account", "unsuppress", "shop1", "bob@gmail.test")
	wantContains(t, "unsuppress", out, "bob@gmail.test removed")
	if code, _, errs := admin(t, "account", "unsuppress", "shop1", "bob@gmail.test"); code != 1 || !strings.Contains(errs, "404") {
		t.Errorf("unsuppress twice: exit %d, %s", code, errs)
	}
	if code, _, errs := admin(t, "account", "suppressions", "nobody"); code != 1 || !strings.Contains(errs, "no such account") {
		t.Errorf("unknown account: exit %d, %s", code, errs)
	}
	if code, _, _ := admin(t, "account", "suppress", "shop1"); code != 2 {
		t.Errorf("suppress without an address: exit %d, want 2", code)
	}
}
