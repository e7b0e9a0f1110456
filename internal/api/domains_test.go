package api_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/dkim"
	"sendpool/internal/dns"
	"sendpool/internal/dnsrec"
	"sendpool/internal/domain"
	"sendpool/internal/sandbox"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/testclock"
)

// domainEnv is the API with its domain routes over a real SQLite store,
// checking records in a sandbox DNS server, on a settable clock.
type domainEnv struct {
	*env
	dns *sandbox.DNSServer
	clk *testclock.Clock
}

func (e *domainEnv) clock() time.Time        { return e.clk.Now() }
func (e *domainEnv) advance(d time.Duration) { e.clk.Add(d) }

// month is the clock's year and month as DKIM selectors carry it.
func (e *domainEnv) month() string { return e.clk.Now().Format("200601") }

// newDomainEnv builds the env; opts change the records' config first.
func newDomainEnv(t *testing.T, opts ...func(*dnsrec.Config)) *domainEnv {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "sendpool.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := sandbox.NewDNSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	r, err := dns.New([]string{srv.Addr()}, dns.Options{Cache: dns.NoCache{}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e := &domainEnv{dns: srv, clk: testclock.New()}
	pool := []dnsrec.PoolIP{{Addr: netip.MustParseAddr("127.0.0.2"), EHLO: "mta1.sendpool.test"}}
	srv.SetA("mta1.sendpool.test", "127.0.0.2")
	rec := &dnsrec.Config{SPFHost: "_spf.relay.sendpool.test", Pool: pool, DMARCRUA: "mailto:dmarc@{domain}",
		RetireAfter: 168 * time.Hour}
	for _, o := range opts {
		o(rec)
	}
	h := api.New(api.Config{
		Queue: st, Accounts: st, Now: e.clock, Token: defaultToken,
		Logger: slog.New(slog.NewTextHandler(testLog{t}, nil)),
		Domains: &api.Domains{
			Store:   st,
			Keys:    dkim.New(dkim.Config{Store: st, Resolver: r, RetireAfter: 168 * time.Hour, Now: e.clock}),
			Records: rec,
			Checker: &dnsrec.Checker{Resolver: r, Config: rec},
		},
	})
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	e.env = &env{srv: hs, store: st, token: defaultToken}
	return e
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

func (e *domainEnv) publish(rs []dnsrec.Record) {
	by := map[string][]string{}
	for _, r := range rs {
		by[r.Name] = append(by[r.Name], r.Value)
	}
	for n, vs := range by {
		e.dns.SetTXT(n, vs...)
	}
}

func (e *domainEnv) check(t *testing.T) dnsrec.Report {
	t.Helper()
	code, body := e.do(t, "GET", "/api/v1/domains/shop.test/check", "")
	wantStatus(t, "check", code, body, 200)
	return decode[dnsrec.Report](t, body)
}

func TestDomainAddListGetDelete(t *testing.T) {
	e := newDomainEnv(t)
	ctx := t.Context()
	for _, a := range []*account.Account{
		{Name: "shop", Domains: []string{}, Status: account.StatusActive},
		{Name: "other", Domains: []string{"other.test"}, Status: account.StatusActive},
	} {
		if err := e.store.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	code, body := e.do(t, "POST", "/api/v1/domains", `{"domain":"Shop.Test.","account":"shop"}`)
	wantStatus(t, "add", code, body, 201)
	if strings.Contains(string(body), "PRIVATE") || strings.Contains(string(body), "private") {
		t.Fatalf("the answer shows a private key:\n%s", body)
	}
	info := decode[api.DomainInfo](t, body)
	if info.Domain != "shop.test" || info.Account != "shop" || len(info.Keys) != 2 || info.Keys[0].State != domain.Active {
		t.Fatalf("added: %+v", info)
	}
	var purposes []string
	for _, r := range info.Records {
		purposes = append(purposes, r.Purpose)
	}
	if got := strings.Join(purposes, " "); got != "spf spf-service dkim dkim dmarc" {
		t.Fatalf("record purposes %q", got)
	}
	if a, _ := e.store.GetAccount(ctx, "shop"); !a.OwnsDomain("shop.test") {
		t.Fatalf("account domains after add: %v", a.Domains)
	}
	stored, _ := e.store.GetDomain(ctx, "shop.test")
	if !strings.Contains(stored.Keys[0].PrivateKey, "BEGIN PRIVATE KEY") {
		t.Fatal("private key not stored")
	}

	for _, tc := range []struct{ body, what string }{
		{`{"domain":"shop.test","account":"shop"}`, "taken"},
		{`{"domain":"news.other.test","account":"shop"}`, "another account's"},
	} {
		code, body := e.do(t, "POST", "/api/v1/domains", tc.body)
		wantStatus(t, tc.what, code, body, 409)
	}
	code, body = e.do(t, "POST", "/api/v1/domains", `{"domain":"x.test","account":"nobody"}`)
	wantStatus(t, "unknown account", code, body, 404)
	code, body = e.do(t, "POST", "/api/v1/domains", `{"domain":"not a domain","account":"shop"}`)
	wantStatus(t, "bad name", code, body, 400)

	code, body = e.do(t, "GET", "/api/v1/domains", "")
	wantStatus(t, "list", code, body, 200)
	if l := decode[[]api.DomainInfo](t, body); len(l) != 1 || l[0].Domain != "shop.test" {
		t.Fatalf("list: %s", body)
	}
	code, body = e.do(t, "GET", "/api/v1/domains?account=other", "")
	if l := decode[[]api.DomainInfo](t, body); code != 200 || len(l) != 0 {
		t.Fatalf("list of other: %d %s", code, body)
	}
	code, body = e.do(t, "GET", "/api/v1/domains/shop.test", "")
	wantStatus(t, "get", code, body, 200)
	code, body = e.do(t, "GET", "/api/v1/domains/none.test", "")
	wantStatus(t, "get unknown", code, body, 404)

	code, body = e.do(t, "DELETE", "/api/v1/domains/shop.test", "")
	wantStatus(t, "delete", code, body, 204)
	code, body = e.do(t, "GET", "/api/v1/domains/shop.test", "")
	wantStatus(t, "get deleted", code, body, 404)
	code, body = e.do(t, "DELETE", "/api/v1/domains/shop.test", "")
	wantStatus(t, "delete again", code, body, 404)
}

// TestDomainCheckAndRotation: check says missing, then ok once published;
// a rotation's keys stay pending (and the check says dkim missing) until
// their records are published, then a check activates them; the old keys
// are reported removable after retire_after.
func TestDomainCheckAndRotation(t *testing.T) {
	e := newDomainEnv(t)
	if err := e.store.CreateAccount(t.Context(), &account.Account{Name: "shop", Status: account.StatusActive}); err != nil {
		t.Fatal(err)
	}
	code, body := e.do(t, "POST", "/api/v1/domains", `{"domain":"shop.test","account":"shop"}`)
	wantStatus(t, "add", code, body, 201)
	info := decode[api.DomainInfo](t, body)

	if r := e.check(t); r.SPF.Status != dnsrec.Missing || r.DKIM.Status != dnsrec.Missing || r.DMARC.Status != dnsrec.Missing {
		t.Fatalf("before publishing: %+v", r)
	}
	e.publish(info.Records)
	if r := e.check(t); !r.OK || r.Pool[0].Forward.Status != dnsrec.OK {
		t.Fatalf("after publishing: %+v", r)
	}

	was := e.month()
	e.advance(31 * 24 * time.Hour) // a later month: new selectors
	now := e.month()
	code, body = e.do(t, "POST", "/api/v1/domains/shop.test/rotate-dkim", "")
	wantStatus(t, "rotate", code, body, 200)
	rotated := decode[api.DomainInfo](t, body)
	if len(rotated.Keys) != 4 || rotated.Keys[2].State != domain.Pending || rotated.Keys[2].Selector != "sp"+now+"r" {
		t.Fatalf("after rotate: %+v", rotated.Keys)
	}
	code, body = e.do(t, "POST", "/api/v1/domains/shop.test/rotate-dkim", "")
	wantStatus(t, "rotate while pending", code, body, 409)

	r := e.check(t)
	if r.DKIM.Status != dnsrec.Missing || r.DKIM.Detail != "sp"+now+"r missing, sp"+now+"e missing" {
		t.Fatalf("check before publishing the new keys: %+v", r.DKIM)
	}
	e.publish(rotated.Records)
	if r := e.check(t); !r.OK {
		t.Fatalf("check after publishing the new keys: %+v", r)
	}
	code, body = e.do(t, "GET", "/api/v1/domains/shop.test", "")
	got := decode[api.DomainInfo](t, body)
	states := ""
	for _, k := range got.Keys {
		states += k.Selector + "=" + string(k.State) + " "
	}
	if states != fmt.Sprintf("sp%[1]sr=retired sp%[1]se=retired sp%[2]sr=active sp%[2]se=active ", was, now) || len(got.Removable) != 0 {
		t.Fatalf("keys after activation: %s, removable %v", states, got.Removable)
	}
	if got.Keys[0].RemovableAt == nil || !got.Keys[0].RemovableAt.Equal(e.clock().Add(168*time.Hour)) {
		t.Fatalf("removable_at %v", got.Keys[0].RemovableAt)
	}

	e.advance(168 * time.Hour)
	code, body = e.do(t, "GET", "/api/v1/domains/shop.test", "")
	got = decode[api.DomainInfo](t, body)
	if strings.Join(got.Removable, ",") != "sp"+was+"r,sp"+was+"e" {
		t.Fatalf("removable after retire_after: %v", got.Removable)
	}
	for _, r := range got.Records {
		if strings.HasPrefix(r.Name, "sp"+was) {
			t.Fatalf("a removable key is still among the records: %+v", r)
		}
	}
}
