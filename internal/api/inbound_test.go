package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/inbound"
	"sendpool/internal/state/memory"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/testclock"
)

// TestInboundRoutes: recipients of an account's list (its domains only),
// the bans (listed, shown, lifted) and the decisions, all admin-only.
func TestInboundRoutes(t *testing.T) {
	clock := testclock.New()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "sendpool.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	shared := memory.New(clock.Now)
	bans := &inbound.Bans{State: shared, Now: clock.Now}
	h := api.New(api.Config{Queue: st, Accounts: st, Token: defaultToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Inbound: &api.Inbound{Bans: bans, Recipients: st,
			Decisions: func(ctx context.Context, n int) ([]inbound.Decision, error) {
				return []inbound.Decision{{ClientIP: "192.0.2.1", Action: inbound.ActionDropped, Check: inbound.CheckPregreet}}, nil
			}}})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{srv: srv, store: st, token: defaultToken}
	if err := st.CreateAccount(t.Context(), &account.Account{Name: "shop", Domains: []string{"shop.test"}, Status: account.StatusActive}); err != nil {
		t.Fatal(err)
	}

	if code, _ := e.doAuth(t, http.MethodGet, "/api/v1/inbound/bans", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("bans without the token: %d", code)
	}
	if code, body := e.do(t, http.MethodPost, "/api/v1/accounts/shop/recipients", `{"address":"Alice@shop.test"}`); code != http.StatusCreated {
		t.Fatalf("add recipient: %d %s", code, body)
	}
	if code, body := e.do(t, http.MethodPost, "/api/v1/accounts/shop/recipients", `{"address":"x@other.test"}`); code != http.StatusBadRequest {
		t.Fatalf("add another domain's recipient: %d %s", code, body)
	}
	if code, body := e.do(t, http.MethodGet, "/api/v1/accounts/shop/recipients", ""); code != http.StatusOK ||
		!strings.Contains(string(body), `"address": "alice@shop.test"`) {
		t.Fatalf("list recipients: %d %s", code, body)
	}
	if code, _ := e.do(t, http.MethodDelete, "/api/v1/accounts/shop/recipients/alice@shop.test", ""); code != http.StatusNoContent {
		t.Fatalf("remove recipient: %d", code)
	}
	if code, _ := e.do(t, http.MethodDelete, "/api/v1/accounts/shop/recipients/alice@shop.test", ""); code != http.StatusNotFound {
		t.Fatalf("remove again: %d", code)
	}

	if err := bans.Ban(t.Context(), "192.0.2.1", "pregreet: talked before the banner", time.Hour); err != nil {
		t.Fatal(err)
	}
	if code, body := e.do(t, http.MethodGet, "/api/v1/inbound/bans", ""); code != http.StatusOK || !strings.Contains(string(body), "192.0.2.1") {
		t.Fatalf("bans: %d %s", code, body)
	}
	if code, _ := e.do(t, http.MethodGet, "/api/v1/inbound/bans/192.0.2.1", ""); code != http.StatusOK {
		t.Fatalf("ban: %d", code)
	}
	if code, _ := e.do(t, http.MethodDelete, "/api/v1/inbound/bans/192.0.2.1", ""); code != http.StatusNoContent {
		t.Fatalf("unban: %d", code)
	}
	if code, _ := e.do(t, http.MethodGet, "/api/v1/inbound/bans/192.0.2.1", ""); code != http.StatusNotFound {
		t.Fatalf("ban after unban: %d", code)
	}
	if code, body := e.do(t, http.MethodGet, "/api/v1/inbound/bans", ""); code != http.StatusOK || strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("bans after unban: %d %s", code, body)
	}
	if code, body := e.do(t, http.MethodGet, "/api/v1/inbound/decisions?limit=10", ""); code != http.StatusOK || !strings.Contains(string(body), "pregreet") {
		t.Fatalf("decisions: %d %s", code, body)
	}
}
