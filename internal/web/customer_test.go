package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/authguard"
	"sendpool/internal/dkim"
	"sendpool/internal/dns"
	"sendpool/internal/dnsrec"
	"sendpool/internal/intake"
	"sendpool/internal/ipadmin"
	"sendpool/internal/limit"
	"sendpool/internal/pool"
	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
	"sendpool/internal/state/memory"
	"sendpool/internal/stats"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/suppression/suppressiontest"
	"sendpool/internal/testclock"
	"sendpool/internal/web"
)

const (
	shopPassword  = "shop-password-12"
	otherPassword = "other-password-12"
)

// world is the panel with both roles over a real SQLite store, a sandbox
// DNS server, the real throttle (authguard) and intake's password check:
// accounts shop (shop.test) and other (other.test), each with a message
// and a suppressed recipient.
type world struct {
	*env
	clock             *testclock.Clock
	handler           http.Handler
	shared            *memory.State
	shopMsg, otherMsg string
	shopDKIM          []dnsrec.Record
}

func newWorld(t *testing.T) *world {
	t.Helper()
	clock := testclock.New()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "sendpool.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ds, err := sandbox.NewDNSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	r, err := dns.New([]string{ds.Addr()}, dns.Options{Cache: dns.NoCache{}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	shared := memory.New(clock.Now)
	recs := &dnsrec.Config{SPFHost: "_spf.relay.sendpool.test", RetireAfter: 168 * time.Hour,
		Pool: []dnsrec.PoolIP{{Addr: netip.MustParseAddr("127.0.0.2"), EHLO: "mta1.sendpool.test"}}}
	keys := dkim.New(dkim.Config{Store: st, Resolver: r, RetireAfter: 168 * time.Hour, Now: clock.Now})
	doms := &api.Domains{Store: st, Keys: keys, Records: recs, Checker: &dnsrec.Checker{Resolver: r, Config: recs}}
	guard := authguard.New(authguard.Config{State: shared, Accounts: st, MaxFailures: 5, MaxAccountFailures: 50,
		Window: 15 * time.Minute, Now: clock.Now})
	in := intake.New(intake.Config{Accounts: st, Queue: st, Now: clock.Now})
	lim := limit.New(limit.Config{State: shared, Now: clock.Now})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	apiH := api.New(api.Config{Queue: st, Accounts: st, Token: token, Domains: doms, Logger: logger, Now: clock.Now,
		Guard: guard, Suppressions: &api.Suppressions{Store: st}})
	tr := pool.NewTracker(pool.TrackerConfig{State: shared, SuspendFor: time.Hour})
	ips := ipadmin.New(pool.New(pool.Config{IPs: []pool.IP{
		{Addr: netip.MustParseAddr("127.0.0.2"), EHLO: "mta1.sendpool.test"},
		{Addr: netip.MustParseAddr("127.0.0.3"), EHLO: "mta2.sendpool.test"},
	}, Tracker: tr}), tr, nil)
	h, err := web.Mount(web.Config{Queue: st, Accounts: st, Domains: doms, Token: token, Logger: logger, Now: clock.Now, IPs: ips,
		Guard: guard, Suppressions: st, Authenticate: in.Authenticate, Usage: lim.Usage,
		Stats: &stats.Reader{State: shared, Now: clock.Now}, Sessions: shared}, apiH)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	w := &world{env: &env{srv: srv, store: st, dns: ds, recs: recs, keys: keys}, clock: clock, handler: h, shared: shared}

	ctx := t.Context()
	for _, a := range []struct{ name, pw, dom string }{{"shop", shopPassword, "shop.test"}, {"other", otherPassword, "other.test"}} {
		hash, err := account.HashPassword(a.pw)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateAccount(ctx, &account.Account{Name: a.name, PasswordHash: hash, Domains: []string{a.dom},
			Status: account.StatusActive, Limits: account.Limits{PerHour: 100, PerDay: 1000}, Created: clock.Now()}); err != nil {
			t.Fatal(err)
		}
		d, err := keys.Add(ctx, a.dom, a.name)
		if err != nil {
			t.Fatal(err)
		}
		if a.name == "shop" {
			for _, rec := range recs.Records(d, clock.Now()) {
				if rec.Purpose == dnsrec.PurposeDKIM {
					w.shopDKIM = append(w.shopDKIM, rec)
				}
			}
		}
		id := queue.NewID(clock.Now())
		if err := st.Put(ctx, &queue.Message{ID: id, Account: a.name, From: "news@" + a.dom,
			Recipients: []string{"bob@" + a.name + "-customers.test"}, Body: []byte("Subject: hi\r\n\r\nhi\r\n"),
			Created: clock.Now(), Intake: &queue.Intake{Protocol: "smtp", Account: a.name,
				HeaderMessageID: "<" + a.name + "-order-1@" + a.dom + ">"}}); err != nil {
			t.Fatal(err)
		}
		if a.name == "shop" {
			w.shopMsg = id
		} else {
			w.otherMsg = id
		}
		if err := st.PutSuppression(ctx, suppressiontest.Entry(a.name, "gone@"+a.name+"-customers.test", clock.Now())); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Second)
	}
	// 30 days of mail for shop's picture (none on some), and its limits
	// counted.
	for d := range stats.Days {
		at := clock.Now().Add(-time.Duration(stats.Days-1-d) * 24 * time.Hour)
		rec := stats.New(stats.Config{State: shared, Now: func() time.Time { return at }})
		if d%7 == 3 {
			continue
		}
		for i := range 40 + (d*17)%60 {
			rec.Final("shop", i%(8+d%9) == 0)
		}
		rec.Flush(ctx)
	}
	for range 3 {
		a, _ := st.GetAccount(ctx, "shop")
		if err := lim.Check(ctx, &intake.Submission{Account: a, From: "news@shop.test", To: []string{"x@y.test"}}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// loginAs logs c in as account (or the admin, "") and returns a CSRF token.
func (w *world) loginAs(t *testing.T, c *http.Client, name, password string) string {
	t.Helper()
	_, page, _ := get(t, c, w.srv.URL+"/login")
	code, body, h := post(t, c, w.srv.URL+"/login", url.Values{"csrf": {csrfOf(t, page)}, "account": {name}, "password": {password}})
	if code != http.StatusSeeOther || h.Get("Location") != "/" {
		t.Fatalf("login as %q: %d to %q\n%s", name, code, h.Get("Location"), body)
	}
	code, page, _ = get(t, c, w.srv.URL+"/")
	if code != 200 {
		t.Fatalf("after login as %q: %d\n%s", name, code, page)
	}
	return csrfOf(t, page)
}

// TestCustomerSeesItsOwn: a customer's pages show its domain, messages,
// suppressions and usage, never the other account's; the menu has no admin
// page.
func TestCustomerSeesItsOwn(t *testing.T) {
	w := newWorld(t)
	c := client(t)
	w.loginAs(t, c, "shop", shopPassword)
	for _, tc := range []struct{ path, want string }{
		{"/", "shop.test"},
		{"/log", w.shopMsg},
		{"/log?q=bob@shop-customers.test", w.shopMsg},
		{"/log?q=shop-order-1@shop.test", w.shopMsg},
		{"/messages/" + w.shopMsg, "bob@shop-customers.test"},
		{"/suppressions", "gone@shop-customers.test"},
		{"/usage", "messages per hour"},
	} {
		code, page, _ := get(t, c, w.srv.URL+tc.path)
		if code != 200 || !strings.Contains(page, tc.want) {
			t.Fatalf("GET %s: %d, want %q in\n%s", tc.path, code, tc.want, page)
		}
		for _, leak := range []string{"other.test", w.otherMsg, "other-customers.test", ">IP pool<", ">Accounts<"} {
			if strings.Contains(page, leak) {
				t.Errorf("GET %s shows %q", tc.path, leak)
			}
		}
	}
	if _, page, _ := get(t, c, w.srv.URL+"/log?q=other-order-1@other.test"); strings.Contains(page, w.otherMsg) {
		t.Error("a search finds the other account's message")
	}
	// The usage page: the three messages counted, the picture drawn.
	_, page, _ := get(t, c, w.srv.URL+"/usage")
	if !strings.Contains(page, "<td>3</td><td>100</td>") || !strings.Contains(page, "<svg") || !strings.Contains(page, "bounce rate") {
		t.Errorf("usage page:\n%s", page)
	}
	// Held: why, and what to do, on its pages; it can still log in and look.
	a, _ := w.store.GetAccount(t.Context(), "shop")
	a.Status, a.Reason = account.StatusHeld, "bounce rate 23% over the last hour"
	if err := w.store.UpdateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/usage"} {
		_, page, _ := get(t, c, w.srv.URL+path)
		if !strings.Contains(page, "Your mail is held") || !strings.Contains(page, "bounce rate 23% over the last hour") ||
			!strings.Contains(page, "ask your provider to release it") {
			t.Errorf("GET %s of a held account:\n%s", path, page)
		}
	}
}

// TestCustomerRoutesWalk walks every route the panel registers as customer
// shop, naming the other account's objects wherever a path names one:
// admin routes answer 403, the other account's objects 404, and a page
// without an object shows nothing of the other account.
func TestCustomerRoutesWalk(t *testing.T) {
	w := newWorld(t)
	c := client(t)
	csrf := w.loginAs(t, c, "shop", shopPassword)
	routes := web.Routes(w.handler)
	if len(routes) < 20 {
		t.Fatalf("only %d routes listed", len(routes))
	}
	fill := strings.NewReplacer("{name}", "other.test", "{id}", w.otherMsg,
		"{address}", "127.0.0.2", "{action}", "suspend")
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		if path == "/logout" {
			continue // walked last, below
		}
		path = strings.ReplaceAll(path, "{$}", "")
		if strings.HasPrefix(path, "/accounts/") {
			path = strings.Replace(path, "{name}", "other", 1) // an account's name
		}
		path = fill.Replace(path)
		form := url.Values{"csrf": {csrf}, "address": {"gone@other-customers.test"}, "domain": {"evil.test"},
			"account": {"shop"}, "name": {"evil"}, "password": {"evil-password-12"}}
		var code int
		var page string
		if method == http.MethodGet {
			code, page, _ = get(t, c, w.srv.URL+path)
		} else {
			code, page, _ = post(t, c, w.srv.URL+path, form)
		}
		switch {
		case !rt.Customers:
			if code != http.StatusForbidden {
				t.Errorf("%s %s (admin route) as a customer: %d, want 403", method, path, code)
			}
		case strings.Contains(path, "{") || strings.Contains(rt.Pattern, "{") && !strings.HasSuffix(rt.Pattern, "{$}"):
			if code != http.StatusNotFound {
				t.Errorf("%s %s (another account's) as a customer: %d, want 404", method, path, code)
			}
		default:
			if code >= 400 && code != http.StatusNotFound {
				t.Errorf("%s %s as a customer: %d", method, path, code)
			}
			for _, leak := range []string{"other.test", w.otherMsg, "other-customers.test"} {
				if strings.Contains(page, leak) {
					t.Errorf("%s %s shows %q", method, path, leak)
				}
			}
		}
	}
	if code, _, h := post(t, c, w.srv.URL+"/logout", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther || h.Get("Location") != "/login" {
		t.Errorf("POST /logout as a customer: %d to %q", code, h.Get("Location"))
	}
	// Nothing of the other account changed.
	if list, _ := w.store.ListSuppressions(t.Context(), "other", 10); len(list) != 1 {
		t.Errorf("other's suppressions: %d", len(list))
	}
	if _, err := w.store.GetAccount(t.Context(), "evil"); err == nil {
		t.Error("a customer created an account")
	}
	if a, _ := w.store.GetAccount(t.Context(), "other"); a.Status != account.StatusActive {
		t.Errorf("other is %s", a.Status)
	}
}

// TestCustomerLoginThrottled: a customer's password guesses count as SMTP
// AUTH's do (authguard, by client IP and account): past the limit even the
// right password is refused (429, Retry-After) without being checked; a
// suspended account cannot log in, and suspending one ends its sessions.
func TestCustomerLoginThrottled(t *testing.T) {
	w := newWorld(t)
	c := client(t)
	_, page, _ := get(t, c, w.srv.URL+"/login")
	form := url.Values{"csrf": {csrfOf(t, page)}, "account": {"shop"}, "password": {"not-the-password"}}
	for i := range 5 {
		if code, _, _ := post(t, c, w.srv.URL+"/login", form); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i+1, code)
		}
	}
	form.Set("password", shopPassword)
	code, body, h := post(t, c, w.srv.URL+"/login", form)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" || h.Get("Set-Cookie") != "" ||
		!strings.Contains(body, api.ThrottledText) {
		t.Fatalf("right password after 5 guesses: %d, Retry-After %q", code, h.Get("Retry-After"))
	}
	w.clock.Add(16 * time.Minute) // the window frees
	if code, _, _ := post(t, c, w.srv.URL+"/login", form); code != http.StatusSeeOther {
		t.Fatalf("after the window: %d", code)
	}
	// Suspended: the session ends and no new one starts.
	a, _ := w.store.GetAccount(t.Context(), "shop")
	a.Status = account.StatusSuspended
	if err := w.store.UpdateAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if code, _, h := get(t, c, w.srv.URL+"/log"); code != http.StatusSeeOther || h.Get("Location") != "/login" {
		t.Fatalf("suspended account's session: %d to %q", code, h.Get("Location"))
	}
	_, page, _ = get(t, c, w.srv.URL+"/login")
	form.Set("csrf", csrfOf(t, page))
	if code, _, _ := post(t, c, w.srv.URL+"/login", form); code != http.StatusUnauthorized {
		t.Fatalf("suspended account's login: %d", code)
	}
}

func (w *world) sharedState() *memory.State { return w.shared }

// TestAdminFormsGoThroughTheAPI: the admin's forms need the CSRF token,
// answer the API's own refusals, and do what the API does.
func TestAdminFormsGoThroughTheAPI(t *testing.T) {
	w := newWorld(t)
	c := client(t)
	csrf := w.loginAs(t, c, "", token)
	form := url.Values{"name": {"newshop"}, "password": {"short"}, "domains": {"newshop.test"}}
	if code, _, _ := post(t, c, w.srv.URL+"/accounts", form); code != http.StatusForbidden {
		t.Fatalf("form without CSRF: %d", code)
	}
	form.Set("csrf", csrf)
	if code, page, _ := post(t, c, w.srv.URL+"/accounts", form); code != http.StatusBadRequest || !strings.Contains(page, "password") {
		t.Fatalf("short password: %d\n%s", code, page)
	}
	form.Set("password", "newshop-password")
	form.Set("per_day", "300")
	if code, _, h := post(t, c, w.srv.URL+"/accounts", form); code != http.StatusSeeOther || h.Get("Location") != "/accounts" {
		t.Fatalf("add account: %d to %q", code, h.Get("Location"))
	}
	if a, err := w.store.GetAccount(t.Context(), "newshop"); err != nil || a.Limits.PerDay != 300 || a.Domains[0] != "newshop.test" {
		t.Fatalf("newshop: %+v %v", a, err)
	}
	if code, _, _ := post(t, c, w.srv.URL+"/domains", url.Values{"csrf": {csrf}, "domain": {"shop.test"}, "account": {"newshop"}}); code != http.StatusConflict {
		t.Fatalf("another account's domain: %d, want the API's 409", code)
	}
	if code, _, _ := post(t, c, w.srv.URL+"/accounts/nobody/suspend", url.Values{"csrf": {csrf}}); code != http.StatusNotFound {
		t.Fatalf("suspend an unknown account: %d", code)
	}
}
