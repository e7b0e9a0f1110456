package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"sendpool/internal/account"
	"sendpool/internal/testclock"
)

// TestDeliverabilityCache: the page's DNS checks are kept for 60 s per
// domain, "check now" checks one domain again at once, and it needs the
// CSRF token.
func TestDeliverabilityCache(t *testing.T) {
	clk := testclock.New()
	e := newEnvAt(t, token, clk.Now)
	ctx := t.Context()
	if err := e.store.CreateAccount(ctx, &account.Account{Name: "shop", Domains: []string{"shop.test", "blog.test"},
		Status: account.StatusActive}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"shop.test", "blog.test"} {
		if _, err := e.keys.Add(ctx, n, "shop"); err != nil {
			t.Fatal(err)
		}
	}
	// One round of checks asks each domain's SPF and DMARC TXT records
	// and the pool's forward and PTR names once.
	queries := func(dom string) int {
		return e.dns.Queries(dom, mdns.TypeTXT) + e.dns.Queries("_dmarc."+dom, mdns.TypeTXT)
	}
	pool := func() int {
		return e.dns.Queries("mta1.sendpool.test", mdns.TypeA) + e.dns.Queries("2.0.0.127.in-addr.arpa", mdns.TypePTR)
	}
	c := client(t)
	csrf := e.login(t, c)
	e.dns.ResetQueries()
	load := func() string {
		t.Helper()
		code, page, _ := get(t, c, e.srv.URL+"/")
		if code != 200 {
			t.Fatalf("GET /: %d\n%s", code, page)
		}
		return page
	}
	want := func(step string, shop, blog, ips int) {
		t.Helper()
		if g := queries("shop.test"); g != shop {
			t.Errorf("%s: shop.test queries %d, want %d", step, g, shop)
		}
		if g := queries("blog.test"); g != blog {
			t.Errorf("%s: blog.test queries %d, want %d", step, g, blog)
		}
		if g := pool(); g != ips {
			t.Errorf("%s: pool queries %d, want %d", step, g, ips)
		}
	}

	page := load()
	want("first view", 2, 2, 4) // the pool is checked with each domain
	if strings.Count(page, "checked 0 s ago") != 2 {
		t.Errorf("first view: want two fresh checks in\n%s", page)
	}
	clk.Add(30 * time.Second)
	page = load()
	want("second view after 30 s", 2, 2, 4)
	if strings.Count(page, "checked 30 s ago") != 2 {
		t.Errorf("second view: want two checks 30 s old in\n%s", page)
	}
	if !strings.Contains(page, `action="/domains/shop.test/check"`) {
		t.Errorf("no check-now button for shop.test in\n%s", page)
	}

	// Check now: shop.test at once, blog.test left as it was.
	if code, _, _ := post(t, c, e.srv.URL+"/domains/shop.test/check", url.Values{}); code != http.StatusForbidden {
		t.Fatalf("check now without CSRF: %d", code)
	}
	if code, _, _ := post(t, c, e.srv.URL+"/domains/shop.test/check", url.Values{"csrf": {"forged"}}); code != http.StatusForbidden {
		t.Fatalf("check now with a wrong CSRF token: %d", code)
	}
	want("refused check now", 2, 2, 4)
	code, _, h := post(t, c, e.srv.URL+"/domains/shop.test/check", url.Values{"csrf": {csrf}})
	if code != http.StatusSeeOther || h.Get("Location") != "/" {
		t.Fatalf("check now: %d to %q", code, h.Get("Location"))
	}
	want("check now", 4, 2, 6)
	page = load()
	want("view after check now", 4, 2, 6)
	if !strings.Contains(page, "checked 0 s ago") || !strings.Contains(page, "checked 30 s ago") {
		t.Errorf("after check now: want one fresh and one 30 s old check in\n%s", page)
	}
	if code, _, _ := post(t, c, e.srv.URL+"/domains/nosuch.test/check", url.Values{"csrf": {csrf}}); code != http.StatusNotFound {
		t.Errorf("check now of an unknown domain: %d", code)
	}

	// 60 s after blog.test's check it is checked again; shop.test's (30 s
	// younger) is still kept.
	clk.Add(30 * time.Second)
	load()
	want("view at 60 s", 4, 4, 8)
	clk.Add(30 * time.Second)
	load()
	want("view at 90 s", 6, 4, 10)
	// What DNS holds now is what the page shows after a check.
	dmarcRow := func(page string) string {
		i := strings.Index(page, `<td class="mono">_dmarc.shop.test</td>`)
		if i < 0 {
			t.Fatalf("no DMARC row in\n%s", page)
		}
		return page[i : i+strings.Index(page[i:], "</tr>")]
	}
	if r := dmarcRow(page); !strings.Contains(r, `badge missing">missing<`) {
		t.Fatalf("DMARC before publishing: %s", r)
	}
	e.dns.SetTXT("_dmarc.shop.test", e.recs.DMARCValue("shop.test"))
	if r := dmarcRow(load()); !strings.Contains(r, `badge missing">missing<`) {
		t.Errorf("DMARC published, check kept: want the kept result, got %s", r)
	}
	post(t, c, e.srv.URL+"/domains/shop.test/check", url.Values{"csrf": {csrf}})
	if r := dmarcRow(load()); !strings.Contains(r, `badge ok">ok<`) {
		t.Errorf("DMARC published, then check now: %s", r)
	}
}
