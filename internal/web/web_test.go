package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/dkim"
	"sendpool/internal/dns"
	"sendpool/internal/dnsrec"
	"sendpool/internal/history"
	"sendpool/internal/ipadmin"
	"sendpool/internal/pool"
	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
	"sendpool/internal/state/memory"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/web"
)

const token = "s3cret-admin-token"

// env is the panel in front of the API, on a loopback socket, over a real
// SQLite store, checking records in a sandbox DNS server.
type env struct {
	srv   *httptest.Server
	store *sqlite.Store
	dns   *sandbox.DNSServer
	ips   *ipadmin.Admin
	recs  *dnsrec.Config
	keys  *dkim.Manager
	// replies are the IPs' recent replies (replies_test.go).
	replies *history.Replies
}

func newEnv(t *testing.T, tok string) *env {
	t.Helper()
	return newEnvAt(t, tok, nil)
}

// newEnvAt is newEnv with the panel's clock; nil: time.Now.
func newEnvAt(t *testing.T, tok string, now func() time.Time) *env {
	t.Helper()
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
	tr := pool.NewTracker(pool.TrackerConfig{State: memory.New(nil), SuspendFor: time.Hour})
	warm := newWarmup() // warmup_test.go: 127.0.0.3 is in warm-up
	ips := ipadmin.New(pool.New(pool.Config{IPs: []pool.IP{
		{Addr: netip.MustParseAddr("127.0.0.2"), EHLO: "mta1.sendpool.test"},
		{Addr: netip.MustParseAddr("127.0.0.3"), EHLO: "mta2.sendpool.test"},
	}, Tracker: tr, Warmup: warm}), tr, nil).WithWarmup(warm).WithPacer(newPacer()) // warmup_test.go
	ds.SetA("mta1.sendpool.test", "127.0.0.2")
	recs := &dnsrec.Config{SPFHost: "_spf.relay.sendpool.test", RetireAfter: 168 * time.Hour,
		Pool: []dnsrec.PoolIP{{Addr: netip.MustParseAddr("127.0.0.2"), EHLO: "mta1.sendpool.test"}}}
	keys := dkim.New(dkim.Config{Store: st, Resolver: r, RetireAfter: 168 * time.Hour})
	doms := &api.Domains{Store: st, Keys: keys, Records: recs, Checker: &dnsrec.Checker{Resolver: r, Config: recs}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	hs := memory.New(nil)
	rec := history.New(history.Config{State: hs})
	t.Cleanup(func() { rec.Close() })
	replies := history.NewReplies(hs, rec)
	apiH := api.New(api.Config{Queue: st, Accounts: st, IPs: ips, Token: tok, Domains: doms, Logger: logger, Replies: replies})
	h, err := web.Mount(web.Config{Queue: st, Accounts: st, IPs: ips, Domains: doms, Token: tok, Logger: logger, Replies: replies,
		Now: now}, apiH)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h) // 127.0.0.1
	t.Cleanup(srv.Close)
	return &env{srv: srv, store: st, dns: ds, ips: ips, recs: recs, keys: keys, replies: replies}
}

// client keeps cookies and does not follow redirects, so tests see them.
func client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

func get(t *testing.T, c *http.Client, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (int, string, http.Header) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in:\n%s", page)
	}
	return m[1]
}

// login logs c in and returns a page's CSRF token.
func (e *env) login(t *testing.T, c *http.Client) string {
	t.Helper()
	_, page, _ := get(t, c, e.srv.URL+"/login")
	code, _, h := post(t, c, e.srv.URL+"/login", url.Values{"csrf": {csrfOf(t, page)}, "account": {""}, "password": {token}})
	if code != http.StatusSeeOther || h.Get("Location") != "/" {
		t.Fatalf("login: %d to %q", code, h.Get("Location"))
	}
	code, page, _ = get(t, c, e.srv.URL+"/ips")
	if code != 200 {
		t.Fatalf("after login: %d\n%s", code, page)
	}
	return csrfOf(t, page)
}

func TestLogin(t *testing.T) {
	e := newEnv(t, token)
	c := client(t)
	code, _, h := get(t, c, e.srv.URL+"/")
	if code != http.StatusSeeOther || h.Get("Location") != "/login" {
		t.Fatalf("unauthenticated GET /: %d to %q", code, h.Get("Location"))
	}
	_, page, _ := get(t, c, e.srv.URL+"/login")
	form := url.Values{"csrf": {csrfOf(t, page)}, "account": {""}, "password": {"wrong"}}
	if code, body, h := post(t, c, e.srv.URL+"/login", form); code != http.StatusUnauthorized ||
		!strings.Contains(body, "wrong account or password") || h.Get("Set-Cookie") != "" {
		t.Fatalf("wrong token: %d, cookie %q", code, h.Get("Set-Cookie"))
	}
	// The token under an account's name is not the admin.
	form.Set("account", "acme")
	form.Set("password", token)
	if code, _, h := post(t, c, e.srv.URL+"/login", form); code != http.StatusUnauthorized || h.Get("Set-Cookie") != "" {
		t.Fatalf("the token as an account's password: %d", code)
	}
	form.Set("account", "")
	if code, _, _ := post(t, c, e.srv.URL+"/login", url.Values{"password": {token}}); code != http.StatusForbidden {
		t.Fatalf("login without CSRF: %d", code)
	}
	if code, _, _ := get(t, c, e.srv.URL+"/ips"); code != http.StatusSeeOther {
		t.Fatalf("still logged out after refusals: %d", code)
	}

	form.Set("password", token)
	code, _, h = post(t, c, e.srv.URL+"/login", form)
	if code != http.StatusSeeOther {
		t.Fatalf("right token: %d", code)
	}
	ck := h.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(ck, want) {
			t.Errorf("cookie %q lacks %s", ck, want)
		}
	}
	if strings.Contains(ck, token) {
		t.Fatalf("cookie holds the token: %q", ck)
	}
	if code, body, _ := get(t, c, e.srv.URL+"/accounts"); code != 200 || !strings.Contains(body, "Log out") {
		t.Fatalf("with the cookie: %d", code)
	}
	// A forged cookie is refused.
	u, _ := url.Parse(e.srv.URL)
	forged := client(t)
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: "sendpool_session", Value: "99999999999.AAAA"}})
	if code, _, _ := get(t, forged, e.srv.URL+"/accounts"); code != http.StatusSeeOther {
		t.Fatalf("forged cookie: %d", code)
	}
	// The API keeps its own auth and routes.
	if code, _, _ := get(t, c, e.srv.URL+"/api/v1/ips"); code != http.StatusUnauthorized {
		t.Fatalf("API with the panel cookie but no bearer: %d", code)
	}
	if code, _, _ := get(t, c, e.srv.URL+"/healthz"); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
}

// TestNoTokenNobody: with no admin token configured the panel lets
// nobody in, loopback clients included (the node always has one: it makes
// one at the first start).
func TestNoTokenNobody(t *testing.T) {
	e := newEnv(t, "")
	c := client(t)
	if code, page, _ := get(t, c, e.srv.URL+"/ips"); code != http.StatusForbidden || strings.Contains(page, "127.0.0.2") {
		t.Fatalf("loopback without token: %d", code)
	}
	_, page, _ := get(t, c, e.srv.URL+"/login")
	if code, _, h := post(t, c, e.srv.URL+"/login", url.Values{"csrf": {csrfOf(t, page)}, "password": {""}}); code != http.StatusForbidden ||
		h.Get("Set-Cookie") != "" {
		t.Fatalf("login with an empty token: %d", code)
	}
}

// TestLogoutEndsTheSession: after logging out, the session's cookie,
// copied before, no longer opens anything (sessions are ended on the
// server, in the shared state, not only in the browser).
func TestLogoutEndsTheSession(t *testing.T) {
	e := newEnv(t, token)
	c := client(t)
	csrf := e.login(t, c)
	u, _ := url.Parse(e.srv.URL)
	stolen := client(t)
	stolen.Jar.SetCookies(u, c.Jar.Cookies(u))
	if code, _, _ := get(t, stolen, e.srv.URL+"/accounts"); code != 200 {
		t.Fatalf("copied cookie before logout: %d", code)
	}
	if code, _, h := post(t, c, e.srv.URL+"/logout", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther || h.Get("Location") != "/login" {
		t.Fatalf("logout: %d", code)
	}
	if code, _, h := get(t, stolen, e.srv.URL+"/accounts"); code != http.StatusSeeOther || h.Get("Location") != "/login" {
		t.Fatalf("copied cookie after logout: %d, want a redirect to /login", code)
	}
	// Logging in again makes a new session that works.
	e.login(t, c)
}

// TestSecureCookie: the session cookie is Secure when the panel's public
// URL is https (a TLS proxy in front), and not on plain http.
func TestSecureCookie(t *testing.T) {
	for _, c := range []struct {
		public string
		secure bool
	}{{"", false}, {"http://relay.example.net", false}, {"https://relay.example.net", true}} {
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "sendpool.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		h, err := web.Mount(web.Config{Queue: st, Accounts: st, Token: token, PublicURL: c.public},
			api.New(api.Config{Queue: st, Accounts: st, Token: token}))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		cl := client(t)
		_, page, _ := get(t, cl, srv.URL+"/login")
		_, _, hd := post(t, cl, srv.URL+"/login", url.Values{"csrf": {csrfOf(t, page)}, "password": {token}})
		if got := strings.Contains(hd.Get("Set-Cookie"), "Secure"); got != c.secure {
			t.Errorf("public_url %q: cookie %q, want Secure %v", c.public, hd.Get("Set-Cookie"), c.secure)
		}
	}
}

func TestDeliverabilityPage(t *testing.T) {
	e := newEnv(t, token)
	ctx := t.Context()
	if err := e.store.CreateAccount(ctx, &account.Account{Name: "shop", Domains: []string{"shop.test"},
		Status: account.StatusActive}); err != nil {
		t.Fatal(err)
	}
	d, err := e.keys.Add(ctx, "shop.test", "shop")
	if err != nil {
		t.Fatal(err)
	}
	// SPF (and the service record it includes) right, one DKIM key right and one wrong, DMARC absent.
	recs := e.recs.Records(d, time.Now())
	var dkims []dnsrec.Record
	for _, r := range recs {
		switch r.Purpose {
		case dnsrec.PurposeSPF, dnsrec.PurposeSPFService:
			e.dns.SetTXT(r.Name, r.Value)
		case dnsrec.PurposeDKIM:
			dkims = append(dkims, r)
		}
	}
	if len(dkims) != 2 {
		t.Fatalf("dkim records: %+v", dkims)
	}
	e.dns.SetTXT(dkims[0].Name, dkims[0].Value)
	e.dns.SetTXT(dkims[1].Name, "v=DKIM1; k=rsa; p=<script>alert(1)</script>")

	c := client(t)
	e.login(t, c)
	code, page, h := get(t, c, e.srv.URL+"/")
	if code != 200 {
		t.Fatalf("GET /: %d\n%s", code, page)
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("CSP %q", h.Get("Content-Security-Policy"))
	}
	row := func(name, purpose string) string {
		i := strings.Index(page, `<td class="mono">`+name+`</td>`)
		if i < 0 {
			t.Fatalf("no row for %s", name)
		}
		end := strings.Index(page[i:], "</tr>")
		r := page[i : i+end]
		if !strings.Contains(r, "<td>"+purpose+"</td>") {
			t.Fatalf("row %s lacks purpose %s:\n%s", name, purpose, r)
		}
		return r
	}
	for _, tc := range []struct{ name, purpose, status string }{
		{"shop.test", "spf", `badge ok">ok<`},
		{dkims[0].Name, "dkim", `badge ok">ok<`},
		{dkims[1].Name, "dkim", `badge wrong">wrong<`},
		{"_dmarc.shop.test", "dmarc", `badge missing">missing<`},
		{"_spf.relay.sendpool.test", "spf-service", "not checked"},
	} {
		if r := row(tc.name, tc.purpose); !strings.Contains(r, tc.status) {
			t.Errorf("%s: want %s in\n%s", tc.name, tc.status, r)
		}
	}
	if !strings.Contains(page, "needs attention") || !strings.Contains(page, "Account shop") {
		t.Error("domain header missing")
	}
	// What DNS holds is shown escaped, never as markup.
	if strings.Contains(page, "<script>") || !strings.Contains(page, "&lt;script&gt;") {
		t.Error("found record not escaped")
	}
	// The value to publish is shown whole, as a zone file needs it: in
	// quoted strings of at most 255 bytes (RFC 1035 §3.3.14).
	parts := dnsrec.SplitTXT(dkims[0].Value)
	if len(parts) < 2 {
		t.Fatalf("an RSA key's record in %d string", len(parts))
	}
	for i, p := range parts {
		if !strings.Contains(page, template(p)) {
			t.Errorf("DKIM value's string %d not shown", i)
		}
	}
	if !strings.Contains(page, template(parts[0])+"&#34; &#34;"+template(parts[1])) {
		t.Error("the DKIM value is not split into quoted strings")
	}
	if !strings.Contains(page, "mta1.sendpool.test") {
		t.Error("pool check not shown")
	}
}

// template escapes s as html/template does text, for the few characters DKIM
// values hold.
func template(s string) string { return strings.ReplaceAll(s, "+", "&#43;") }

func TestIPSuspendResume(t *testing.T) {
	e := newEnv(t, token)
	c := client(t)
	csrf := e.login(t, c)
	if code, _, _ := post(t, c, e.srv.URL+"/ips/127.0.0.3/suspend", url.Values{"reason": {"test"}}); code != http.StatusForbidden {
		t.Fatalf("suspend without CSRF: %d", code)
	}
	if code, _, _ := post(t, c, e.srv.URL+"/ips/127.0.0.3/suspend",
		url.Values{"csrf": {"AAAA" + csrf[4:]}, "reason": {"test"}}); code != http.StatusForbidden {
		t.Fatalf("suspend with a wrong CSRF: %d", code)
	}
	if e.ips.IPs(t.Context())[1].Status != api.IPActive {
		t.Fatal("suspended without a CSRF token")
	}
	code, _, h := post(t, c, e.srv.URL+"/ips/127.0.0.3/suspend",
		url.Values{"csrf": {csrf}, "duration": {"2h"}, "reason": {"<b>blocklisted</b>"}})
	if code != http.StatusSeeOther || h.Get("Location") != "/ips" {
		t.Fatalf("suspend: %d", code)
	}
	ip := e.ips.IPs(t.Context())[1]
	if ip.Status != api.IPSuspended || ip.Scope != "pool" || ip.Reason != "<b>blocklisted</b>" {
		t.Fatalf("after suspend: %+v", ip)
	}
	_, page, _ := get(t, c, e.srv.URL+"/ips")
	for _, want := range []string{"&lt;b&gt;blocklisted&lt;/b&gt;", `badge wrong">suspended<`, "<td>pool</td>",
		ip.SuspendedUntil.UTC().Format("2006-01-02 15:04:05Z"), `action="/ips/127.0.0.3/resume"`} {
		if !strings.Contains(page, want) {
			t.Errorf("IP page lacks %q", want)
		}
	}
	if code, _, _ := post(t, c, e.srv.URL+"/ips/127.0.0.9/suspend", url.Values{"csrf": {csrf}}); code != http.StatusNotFound {
		t.Fatalf("unknown IP: %d", code)
	}
	if code, _, _ := post(t, c, e.srv.URL+"/ips/127.0.0.3/resume", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther {
		t.Fatalf("resume: %d", code)
	}
	if ip := e.ips.IPs(t.Context())[1]; ip.Status != api.IPActive {
		t.Fatalf("after resume: %+v", ip)
	}
}

// seed queues a message to two recipients and records a deferral of the
// first, from 127.0.0.2 through mx.dest.test.
func (e *env) seed(t *testing.T, id string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	if err := e.store.Put(ctx, &queue.Message{ID: id, Account: "shop", From: "a@shop.test",
		Recipients: []string{"x@dest.test", "y@dest.test"}, Body: []byte("Subject: hi\r\n\r\nhi\r\n"),
		Created: now, Expires: now.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Due from when Put stored them (the store's clock, a little after now).
	ls, err := e.store.Lease(ctx, "test", time.Now(), time.Minute, 10)
	if err != nil || len(ls) != 2 {
		t.Fatalf("lease: %v %d", err, len(ls))
	}
	for i := range ls {
		o := queue.Outcome{Status: queue.StatusQueued}
		if ls[i].Recipient == "x@dest.test" {
			o = queue.Outcome{Status: queue.StatusDeferred, Next: now.Add(time.Hour), Attempt: queue.Attempt{
				Time: now, SourceIP: "127.0.0.2", MX: "mx.dest.test", MXAddr: "127.0.0.9:25",
				Response: "451 4.7.1 <greylisted> try later", Verdict: "temporary", Duration: 120 * time.Millisecond}}
		}
		if err := e.store.Report(ctx, &ls[i], o); err != nil {
			t.Fatal(err)
		}
	}
}

func TestQueueAndTrace(t *testing.T) {
	e := newEnv(t, token)
	e.seed(t, "msg-1")
	c := client(t)
	csrf := e.login(t, c)

	code, page, _ := get(t, c, e.srv.URL+"/queue?status=queued")
	if code != 200 || !strings.Contains(page, `href="/messages/msg-1"`) || !strings.Contains(page, "<option selected>queued</option>") {
		t.Fatalf("queue filtered on queued (the summary of queued + deferred): %d\n%s", code, page)
	}
	if _, page, _ := get(t, c, e.srv.URL+"/queue?status=held"); strings.Contains(page, "msg-1") {
		t.Fatal("held filter lists a queued message")
	}
	if code, _, _ := get(t, c, e.srv.URL+"/queue?status=bogus"); code != http.StatusBadRequest {
		t.Fatalf("bad status: %d", code)
	}

	code, page, _ = get(t, c, e.srv.URL+"/messages/msg-1")
	if code != 200 {
		t.Fatalf("trace: %d", code)
	}
	for _, want := range []string{"x@dest.test", "y@dest.test", "127.0.0.2", "mx.dest.test (127.0.0.9:25)",
		"451 4.7.1 &lt;greylisted&gt; try later", "temporary", "120ms", "No attempt yet."} {
		if !strings.Contains(page, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	if code, _, _ := get(t, c, e.srv.URL+"/messages/nope"); code != http.StatusNotFound {
		t.Fatalf("unknown message: %d", code)
	}

	if code, _, _ := post(t, c, e.srv.URL+"/messages/msg-1/hold", url.Values{"back": {"/queue"}}); code != http.StatusForbidden {
		t.Fatalf("hold without CSRF: %d", code)
	}
	code, _, h := post(t, c, e.srv.URL+"/messages/msg-1/hold", url.Values{"csrf": {csrf}, "back": {"/queue?status=held"}})
	if code != http.StatusSeeOther || h.Get("Location") != "/queue?status=held" {
		t.Fatalf("hold: %d to %q", code, h.Get("Location"))
	}
	m, err := e.store.GetMessage(t.Context(), "msg-1")
	if err != nil || m.Status != queue.StatusHeld {
		t.Fatalf("after hold: %v %+v", err, m)
	}
	// A return address elsewhere is not followed.
	_, _, h = post(t, c, e.srv.URL+"/messages/msg-1/release", url.Values{"csrf": {csrf}, "back": {"//evil.test/"}})
	if h.Get("Location") != "/queue" {
		t.Fatalf("back to another site: %q", h.Get("Location"))
	}
	if code, _, _ := post(t, c, e.srv.URL+"/messages/msg-1/delete", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther {
		t.Fatalf("delete: %d", code)
	}
	if _, err := e.store.GetMessage(t.Context(), "msg-1"); err == nil {
		t.Fatal("message still there after delete")
	}
}

func TestAccountsPage(t *testing.T) {
	e := newEnv(t, token)
	if err := e.store.CreateAccount(t.Context(), &account.Account{Name: "shop", Domains: []string{"shop.test"},
		Networks: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, Status: account.StatusHeld,
		Reason: "bounce rate over 10%", Limits: account.Limits{PerMinute: 60, PerHour: 1000, RcptPerDay: 5000}}); err != nil {
		t.Fatal(err)
	}
	c := client(t)
	e.login(t, c)
	code, page, _ := get(t, c, e.srv.URL+"/accounts")
	if code != 200 {
		t.Fatalf("accounts: %d", code)
	}
	for _, want := range []string{`href="/queue?account=shop"`, "shop.test", "192.0.2.0/24", `badge wrong">held<`,
		"bounce rate over 10%", "60 · 1000 · ∞", "∞ · ∞ · 5000"} {
		if !strings.Contains(page, want) {
			t.Errorf("accounts page lacks %q", want)
		}
	}
}

// TestSessionHoldsOnEveryNode: the session key comes from the token, so a
// login on one node (or before a restart) is valid on another with the
// same token, and not on one with another token.
func TestSessionHoldsOnEveryNode(t *testing.T) {
	a, b := newEnv(t, token), newEnv(t, token)
	other := newEnv(t, "another-token")
	c := client(t) // cookies are per host, not per port: all three see them
	a.login(t, c)
	if code, _, h := get(t, c, b.srv.URL+"/queue"); code != http.StatusOK {
		t.Fatalf("node b with the same token: %d to %q, want 200", code, h.Get("Location"))
	}
	if code, _, h := get(t, c, other.srv.URL+"/queue"); code != http.StatusSeeOther || h.Get("Location") != "/login" {
		t.Fatalf("node with another token: %d to %q, want a redirect to /login", code, h.Get("Location"))
	}
}
