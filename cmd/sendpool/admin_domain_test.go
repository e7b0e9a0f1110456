package main

import (
	"encoding/json"
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
	"sendpool/internal/sandbox"
	"sendpool/internal/store/sqlite"
)

// newDomainAdminEnv is an API with domain routes, its records checked in a
// sandbox DNS server, for the domain commands.
func newDomainAdminEnv(t *testing.T) *sandbox.DNSServer {
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
	srv.SetA("mta1.sendpool.test", "127.0.0.2")
	srv.SetPTR("127.0.0.2", "mta1.sendpool.test")
	r, err := dns.New([]string{srv.Addr()}, dns.Options{Cache: dns.NoCache{}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rec := &dnsrec.Config{SPFHost: "_spf.relay.sendpool.test", RetireAfter: time.Hour,
		Pool: []dnsrec.PoolIP{{Addr: netip.MustParseAddr("127.0.0.2"), EHLO: "mta1.sendpool.test"}}}
	h := api.New(api.Config{Queue: st, Accounts: st, Token: "tok", Domains: &api.Domains{
		Store: st, Keys: dkim.New(dkim.Config{Store: st, Resolver: r}), Records: rec,
		Checker: &dnsrec.Checker{Resolver: r, Config: rec},
	}})
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	t.Setenv("SENDPOOL_API", hs.URL)
	t.Setenv("SENDPOOL_TOKEN", "tok")
	if err := st.CreateAccount(t.Context(), &account.Account{Name: "shop", Status: account.StatusActive}); err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestAdminDomains(t *testing.T) {
	srv := newDomainAdminEnv(t)
	out := mustAdmin(t, "domain", "add", "shop.test", "-account", "shop")
	wantContains(t, "add", out, "shop.test (account shop): publish these records", "PURPOSE", "spf-service", "_spf.relay.sendpool.test",
		"v=spf1 include:_spf.relay.sendpool.test ~all",
		"v=DKIM1; k=ed25519; p=", "_dmarc.shop.test", "sp", "active")

	zone := mustAdmin(t, "domain", "records", "shop.test", "-zone")
	wantContains(t, "records -zone", zone, "; spf: ", "shop.test.\t3600\tIN\tTXT\t\"v=spf1 include:_spf.relay.sendpool.test ~all\"",
		"._domainkey.shop.test.\t3600\tIN\tTXT\t\"v=DKIM1; k=rsa; p=")
	// The RSA record is over 255 bytes: two strings in the zone file.
	for _, line := range strings.Split(zone, "\n") {
		if strings.Contains(line, "k=rsa") && strings.Count(line, `" "`) != 1 {
			t.Errorf("RSA record not split in two strings: %s", line)
		}
	}

	code, out, _ := admin(t, "domain", "check", "shop.test")
	if code != 1 || !strings.Contains(out, "missing") || !strings.Contains(out, "expected: v=spf1 include:") {
		t.Fatalf("check before publishing: exit %d\n%s", code, out)
	}
	// Publish what `records` printed (values are whole in JSON).
	var info api.DomainInfo
	if err := json.Unmarshal([]byte(mustAdmin(t, "domain", "records", "shop.test", "-json")), &info); err != nil {
		t.Fatal(err)
	}
	by := map[string][]string{}
	for _, r := range info.Records {
		by[r.Name] = append(by[r.Name], r.Value)
	}
	for n, vs := range by {
		srv.SetTXT(n, vs...)
	}
	out = mustAdmin(t, "domain", "check", "shop.test")
	wantContains(t, "check after publishing", out, "spf ", "ok", "pool 127.0.0.2 PTR")

	out = mustAdmin(t, "domain", "ls")
	wantContains(t, "ls", out, "DOMAIN", "shop.test", "shop", info.Keys[0].Selector+","+info.Keys[1].Selector)
	out = mustAdmin(t, "domain", "rotate-dkim", "shop.test")
	wantContains(t, "rotate-dkim", out, "dkim-pending", "pending")
	mustAdmin(t, "domain", "rm", "shop.test")
	if code, _, errs := admin(t, "domain", "records", "shop.test"); code != 1 || !strings.Contains(errs, "404") {
		t.Fatalf("records after rm: exit %d, %s", code, errs)
	}
}
