package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"sendpool/internal/account"
	"sendpool/internal/api"
)

func TestHealthAndMetricsNeedNoToken(t *testing.T) {
	e := newEnv(t, options{token: "s3cret"})
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sendpool_test_total", Help: "test"})
	e.reg.MustRegister(c)
	c.Add(3)

	code, body := e.doAuth(t, "GET", "/healthz", "", "")
	if code != 200 || strings.TrimSpace(string(body)) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	code, body = e.doAuth(t, "GET", "/metrics", "", "")
	if code != 200 || !strings.Contains(string(body), "sendpool_test_total 3") {
		t.Errorf("/metrics: %d %s", code, body)
	}
}

func TestTokenAuth(t *testing.T) {
	e := newEnv(t, options{token: "s3cret"})
	for _, auth := range []string{"", "Bearer wrong", "Bearer s3cre", "Bearer s3cret2", "Basic czNjcmV0", "s3cret", "Bearers3cret"} {
		code, body := e.doAuth(t, "GET", "/api/v1/accounts", "", auth)
		wantStatus(t, "auth "+auth, code, body, http.StatusUnauthorized)
	}
	code, body := e.doAuth(t, "GET", "/api/v1/accounts", "", "bearer s3cret") // the scheme is case-insensitive
	wantStatus(t, "right token", code, body, http.StatusOK)
	if strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("no accounts: %s, want []", body)
	}
	// Unknown routes under /api/ are refused before they are looked up, and
	// answer JSON once authenticated.
	code, body = e.doAuth(t, "GET", "/api/v1/nothing", "", "")
	wantStatus(t, "unknown route, no token", code, body, http.StatusUnauthorized)
	code, body = e.do(t, "GET", "/api/v1/nothing", "")
	wantStatus(t, "unknown route", code, body, http.StatusNotFound)
}

// Without a token no admin route answers anyone, loopback included: a
// loopback-trusting default let any local user, or any page the admin's
// browser opened, drive the API.
func TestNoTokenNoAdmin(t *testing.T) {
	e := newEnv(t, options{noToken: true})
	code, body := e.doAuth(t, "GET", "/api/v1/accounts", "", "")
	wantStatus(t, "loopback, no token configured", code, body, http.StatusForbidden)
	code, body = e.doAuth(t, "POST", "/api/v1/accounts", `{"name":"x","password":"long-enough-pw"}`, "Bearer ")
	wantStatus(t, "empty bearer, no token configured", code, body, http.StatusForbidden)
	if list, _ := e.store.ListAccounts(t.Context()); len(list) != 0 {
		t.Errorf("accounts created: %+v", list)
	}
	// /healthz stays open to anyone.
	h := api.New(api.Config{Queue: e.store, Accounts: e.store})
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.RemoteAddr = "192.0.2.7:40000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("/healthz from afar: %d", rec.Code)
	}
}

func TestAccounts(t *testing.T) {
	e := newEnv(t, options{token: "tok"})
	ctx := context.Background()

	code, body := e.do(t, "POST", "/api/v1/accounts", `{"name":"acme","password":"hunter22-hunter22",
		"domains":["Acme.TEST."],"networks":["192.0.2.0/24","198.51.100.7"],
		"limits":{"per_minute":10,"per_hour":100,"per_day":1000}}`)
	wantStatus(t, "create", code, body, http.StatusCreated)
	if got, want := keys(t, body), []string{"created", "domains", "limits", "name", "networks", "status"}; !slices.Equal(got, want) {
		t.Errorf("account keys %v, want %v (never the password or its hash)", got, want)
	}
	var a account.Account
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	if a.Name != "acme" || !slices.Equal(a.Domains, []string{"acme.test"}) || len(a.Networks) != 2 ||
		a.Networks[1].String() != "198.51.100.7/32" || a.Limits.PerHour != 100 || a.Status != account.StatusActive || a.Created.IsZero() {
		t.Errorf("created %+v", a)
	}
	stored, err := e.store.GetAccount(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !account.CheckPassword(stored.PasswordHash, "hunter22-hunter22") {
		t.Error("stored hash does not match the password")
	}

	// Network-only account.
	code, body = e.do(t, "POST", "/api/v1/accounts", `{"name":"web1","networks":["203.0.113.5"]}`)
	wantStatus(t, "create network-only", code, body, http.StatusCreated)

	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"exists", `{"name":"acme","password":"long-enough-pw"}`, http.StatusConflict},
		{"bad JSON", `{"name":"x",`, http.StatusBadRequest},
		{"unknown field", `{"name":"x","password":"long-enough-pw","admin":true}`, http.StatusBadRequest},
		{"unknown limit field", `{"name":"x","password":"long-enough-pw","limits":{"per_week":1}}`, http.StatusBadRequest},
		{"trailing data", `{"name":"x","password":"long-enough-pw"} {}`, http.StatusBadRequest},
		{"empty body", ``, http.StatusBadRequest},
		{"no password nor networks", `{"name":"x","domains":["x.test"]}`, http.StatusBadRequest},
		{"bad name", `{"name":"a b","password":"long-enough-pw"}`, http.StatusBadRequest},
		{"bad domain", `{"name":"x","password":"long-enough-pw","domains":["not a domain"]}`, http.StatusBadRequest},
		{"bad network", `{"name":"x","networks":["300.1.1.1/8"]}`, http.StatusBadRequest},
		{"negative limit", `{"name":"x","password":"long-enough-pw","limits":{"per_day":-1}}`, http.StatusBadRequest},
		{"too big", `{"name":"x","password":"` + strings.Repeat("a", 1<<20) + `"}`, http.StatusRequestEntityTooLarge},
		{"short password", `{"name":"x","password":"elevenchars"}`, http.StatusBadRequest},
		{"another account's domain", `{"name":"x","password":"long-enough-pw","domains":["acme.test"]}`, http.StatusConflict},
		{"a subdomain of another account's", `{"name":"x","password":"long-enough-pw","domains":["shop.acme.test"]}`, http.StatusConflict},
		{"bad foreign_from", `{"name":"x","password":"long-enough-pw","foreign_from":["no"]}`, http.StatusBadRequest},
	} {
		code, body := e.do(t, "POST", "/api/v1/accounts", tc.body)
		wantStatus(t, "create "+tc.name, code, body, tc.want)
	}

	code, body = e.do(t, "GET", "/api/v1/accounts", "")
	wantStatus(t, "list", code, body, http.StatusOK)
	var list []account.Account
	if err := json.Unmarshal(body, &list); err != nil || len(list) != 2 || list[0].Name != "acme" || list[1].Name != "web1" {
		t.Errorf("list: %s", body)
	}
	if strings.Contains(string(body), "argon2") || strings.Contains(string(body), "hash") {
		t.Errorf("list shows a hash: %s", body)
	}
	if !strings.Contains(string(body), `"domains": []`) {
		t.Errorf("an account without domains lists null rather than []: %s", body)
	}

	code, body = e.do(t, "GET", "/api/v1/accounts/acme", "")
	wantStatus(t, "get", code, body, http.StatusOK)
	code, body = e.do(t, "GET", "/api/v1/accounts/nobody", "")
	wantStatus(t, "get missing", code, body, http.StatusNotFound)

	// PATCH changes only what it names.
	code, body = e.do(t, "PATCH", "/api/v1/accounts/acme", `{"limits":{"per_hour":50},"status":"suspended","reason":"abuse report"}`)
	wantStatus(t, "patch", code, body, http.StatusOK)
	got, _ := e.store.GetAccount(ctx, "acme")
	if got.Limits != (account.Limits{PerMinute: 10, PerHour: 50, PerDay: 1000}) || got.Status != account.StatusSuspended ||
		got.Reason != "abuse report" || !slices.Equal(got.Domains, []string{"acme.test"}) || len(got.Networks) != 2 {
		t.Errorf("after patch: %+v", got)
	}
	// Back to active: the reason goes unless given.
	code, body = e.do(t, "PATCH", "/api/v1/accounts/acme", `{"status":"active","password":"new-passphrase-2","domains":["b.test","c.test"],"networks":[]}`)
	wantStatus(t, "patch back", code, body, http.StatusOK)
	got, _ = e.store.GetAccount(ctx, "acme")
	if got.Status != account.StatusActive || got.Reason != "" || !account.CheckPassword(got.PasswordHash, "new-passphrase-2") ||
		!slices.Equal(got.Domains, []string{"b.test", "c.test"}) || len(got.Networks) != 0 {
		t.Errorf("after second patch: %+v", got)
	}
	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"held by hand", "acme", `{"status":"held"}`, http.StatusBadRequest},
		{"unknown status", "acme", `{"status":"gone"}`, http.StatusBadRequest},
		{"unknown field", "acme", `{"name":"other"}`, http.StatusBadRequest},
		{"empty password", "acme", `{"password":""}`, http.StatusBadRequest},
		{"short password", "acme", `{"password":"short"}`, http.StatusBadRequest},
		{"another account's domain", "web1", `{"domains":["b.test"]}`, http.StatusConflict},
		{"bad domain", "acme", `{"domains":["-x-"]}`, http.StatusBadRequest},
		{"no way to authenticate", "web1", `{"networks":[]}`, http.StatusBadRequest},
		{"bad JSON", "acme", `{"status":`, http.StatusBadRequest},
		{"missing", "nobody", `{"status":"active"}`, http.StatusNotFound},
	} {
		code, body := e.do(t, "PATCH", "/api/v1/accounts/"+tc.path, tc.body)
		wantStatus(t, "patch "+tc.name, code, body, tc.want)
	}

	// foreign_from is the admin's to set and to clear.
	code, body = e.do(t, "PATCH", "/api/v1/accounts/acme", `{"foreign_from":["Market.test"]}`)
	wantStatus(t, "patch foreign_from", code, body, http.StatusOK)
	if got, _ := e.store.GetAccount(ctx, "acme"); !slices.Equal(got.ForeignFrom, []string{"market.test"}) ||
		!strings.Contains(string(body), `"foreign_from": [`) {
		t.Errorf("after setting foreign_from: %+v\n%s", got, body)
	}
	code, body = e.do(t, "PATCH", "/api/v1/accounts/acme", `{"foreign_from":[]}`)
	wantStatus(t, "clear foreign_from", code, body, http.StatusOK)
	if got, _ := e.store.GetAccount(ctx, "acme"); len(got.ForeignFrom) != 0 {
		t.Errorf("after clearing foreign_from: %+v", got)
	}

	code, body = e.do(t, "DELETE", "/api/v1/accounts/web1", "")
	wantStatus(t, "delete", code, body, http.StatusNoContent)
	code, body = e.do(t, "DELETE", "/api/v1/accounts/web1", "")
	wantStatus(t, "delete again", code, body, http.StatusNotFound)
	if _, err := e.store.GetAccount(ctx, "web1"); err != account.ErrNotFound {
		t.Errorf("deleted account: %v", err)
	}
}
