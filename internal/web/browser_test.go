package web_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sendpool/internal/dnsrec"
	"sendpool/internal/stats"
	"sendpool/internal/testenv"
)

// The panel in a real browser: Debian's Chromium, headless, driven over
// the DevTools protocol (chromedp), against the panel on a loopback
// socket. Each page visited is saved as a PNG under
// $SENDPOOL_TEST_ARTIFACTS (default: a new temporary directory that is
// kept), its path logged.

// browser is one headless Chromium and the test's screenshots.
type browser struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	shots int
	base  string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := testenv.Chromium(t)
	dir := os.Getenv("SENDPOOL_TEST_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "sendpool-screens-"); err != nil {
			t.Fatal(err)
		}
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var cmd *exec.Cmd
	// The flags this machine needs (no sandbox as root, no GPU, no traffic
	// but to the page: the network beyond loopback is closed) and a fresh
	// profile.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// Its own process group, so that every helper process it starts
		// goes with it.
		chromedp.ModifyCmdFunc(func(c *exec.Cmd) {
			c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
			mu.Lock()
			cmd = c
			mu.Unlock()
		}),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		mu.Lock()
		defer mu.Unlock()
		if cmd != nil && cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group, whatever is left of it
		}
	})
	// The first call starts the browser: no timeout on it (it would stop
	// the browser); each later step has one (step).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("chromium %s: %v", path, err)
	}
	return &browser{t: t, ctx: ctx, dir: dir, base: base}
}

// step bounds one step.
const step = 20 * time.Second

// run runs actions, failing the test with what.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failed-" + what)
		b.t.Fatalf("%s: %v", what, err)
	}
}

// value runs one action that returns a value.
func value[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// open goes to path and waits for the page.
func (b *browser) open(path string) {
	b.t.Helper()
	b.run("open "+path, chromedp.Navigate(b.base+path), loaded(`true`))
}

// shot saves a screenshot of the whole page.
func (b *browser) shot(name string) string {
	b.t.Helper()
	var png []byte
	var err error
	for range 2 { // a busy machine may miss one
		ctx, cancel := context.WithTimeout(b.ctx, step)
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err == nil {
			break
		}
	}
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	b.shots++
	p := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shots, regexp.MustCompile(`[^a-z0-9-]+`).ReplaceAllString(name, "-")))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", p)
	return p
}

// text is the innerText of the first element sel selects, once there is
// one. It is read by one script in the page, not through a DOM node id
// (chromedp.Text): such an id goes stale when the document is read again
// meanwhile, as it is after a form's redirect ("No node with given id
// found", seen once in a fresh-clone run right after the login).
func (b *browser) text(sel string) string {
	b.t.Helper()
	js := `(() => { const e = document.querySelector(` + strconvQuote(sel) + `); return e ? e.innerText : null })()`
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	for {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[*string](js))
		if err == nil && v != nil {
			return *v
		}
		if ctx.Err() != nil {
			b.t.Fatalf("read %s: %v (the last try: %v)", sel, ctx.Err(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *browser) title() string {
	b.t.Helper()
	return value(b, "title", chromedp.Title())
}

// count is how many elements sel selects.
func (b *browser) count(sel string) int {
	b.t.Helper()
	return value(b, "count "+sel, chromedp.Evaluate[int](`document.querySelectorAll(`+strconvQuote(sel)+`).length`))
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

// submit clicks a form's button and waits for the page the form leads to:
// the old page is marked first, and the new one is the unmarked body. The
// click is the button's own (a script in the page), not through a DOM node
// id, which goes stale if chromedp reads the document again meanwhile.
func submit(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Evaluate[bool](`document.body.dataset.stale = "1", document.querySelector(`+
				strconvQuote(sel)+`).click(), true`)(ctx, t)
			return chromedp.Void{}, err
		},
		loaded(`!document.body.dataset.stale`),
	)
}

// loaded waits until the page has loaded (readyState "complete") and cond,
// a script, is true. It asks the page itself, holding no DOM node id: a
// new document makes chromedp read the DOM again (DOM.documentUpdated, at
// times more than once a page), and an id taken before that is stale ("No
// node with given id found"). While the page changes, a try may fail: the
// next one looks again.
func loaded(cond string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			ok, err := chromedp.Evaluate[bool](`document.readyState === "complete" && !!document.body && (`+cond+`)`)(ctx, t)
			if err == nil && ok {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("page not loaded with %s: %w (the last try: %v)", cond, ctx.Err(), err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// login fills and posts the login form.
func (b *browser) login(account, password string) {
	b.t.Helper()
	b.open("/login")
	b.shot("login")
	b.run("log in",
		chromedp.SendKeys(chromedp.CSS(`input[name=account]`), account),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		submit(`form[action="/login"] button`))
}

// TestBrowserCustomer: a customer logs in and sees its own domain and not
// the other account's; another account's message by id is 404; "Check
// now" turns the domain authenticated once its records are published; it
// removes a suppression; its usage page draws its 30 days.
func TestBrowserCustomer(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t, w.srv.URL)
	b.login("shop", shopPassword)
	page := b.text("main")
	b.shot("customer-deliverability")
	if !strings.Contains(page, "shop.test") || strings.Contains(page, "other.test") || !strings.Contains(page, "needs attention") {
		t.Fatalf("the customer's deliverability page:\n%s", page)
	}
	if nav := b.text("nav"); strings.Contains(nav, "IP pool") || strings.Contains(nav, "Accounts") {
		t.Fatalf("customer menu: %q", nav)
	}

	// The copy button (static/copy.js, allowed by the CSP as our own
	// file) copies a record and says so.
	b.run("copy", chromedp.Click(chromedp.CSS(`button[data-copy="rec-0-0"]`)))
	for deadline := time.Now().Add(5 * time.Second); b.text(`button[data-copy="rec-0-0"]`) != "Copied"; {
		if time.Now().After(deadline) {
			t.Fatalf("the copy button says %q", b.text(`button[data-copy="rec-0-0"]`))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Its records published (the sandbox DNS is the domain's), then
	// "Check now": authenticated.
	d, err := w.store.GetDomain(t.Context(), "shop.test")
	if err != nil {
		t.Fatal(err)
	}
	by := map[string][]string{}
	for _, r := range w.recs.Records(d, w.clock.Now()) {
		if r.Type == "TXT" && r.Purpose != dnsrec.PurposeDKIMRetired {
			by[r.Name] = append(by[r.Name], r.Value)
		}
	}
	for name, vs := range by {
		w.dns.SetTXT(name, vs...)
	}
	b.run("check now", submit(`form[action="/domains/shop.test/check"] button`))
	if h := b.text(`#domain-shop\.test h2`); !strings.Contains(h, "authenticated") {
		t.Fatalf("after publishing and Check now: %q\n%s", h, b.text("main"))
	}
	b.shot("customer-check-now-authenticated")

	// Another account's message: not there.
	b.open("/messages/" + w.otherMsg)
	if title := b.title(); !strings.Contains(title, "Not Found") {
		t.Fatalf("another account's message: title %q", title)
	}
	b.shot("customer-other-message-404")
	b.open("/messages/" + w.shopMsg)
	if !strings.Contains(b.text("main"), "bob@shop-customers.test") {
		t.Fatal("its own message's trace not shown")
	}
	b.shot("customer-message")

	b.open("/log?q=shop-order-1%40shop.test")
	if !strings.Contains(b.text("main"), w.shopMsg) {
		t.Fatal("the log search by Message-ID found nothing")
	}
	b.shot("customer-log-search")

	b.open("/suppressions")
	b.shot("customer-suppressions")
	b.run("remove", submit(`form[action="/suppressions/remove"] button`))
	if strings.Contains(b.text("main"), "gone@shop-customers.test") {
		t.Fatal("the suppression is still listed")
	}
	if list, _ := w.store.ListSuppressions(t.Context(), "shop", 10); len(list) != 0 {
		t.Fatalf("shop's suppressions after removal: %d", len(list))
	}
	b.shot("customer-suppression-removed")

	b.open("/usage")
	if !strings.Contains(b.text("main"), "bounce rate") {
		t.Fatal("no picture on the usage page")
	}
	if svgs := b.count("svg.chart"); svgs != 1 {
		t.Fatalf("%d pictures on the usage page", b.count("svg.chart"))
	}
	b.shot("customer-usage")

	b.open("/ips")
	if title := b.title(); !strings.Contains(title, "Forbidden") {
		t.Fatalf("the IP pool page for a customer: %q", title)
	}
}

// TestBrowserAdmin: the admin's forms in a browser: add an account, set
// its limits, suspend and resume it, add a domain for it and delete it;
// the IP pool page draws the 48-hour pictures.
func TestBrowserAdmin(t *testing.T) {
	w := newWorld(t)
	seedStats(t, w)
	b := newBrowser(t, w.srv.URL)
	b.login("", token)

	b.open("/accounts")
	b.run("add account",
		chromedp.SendKeys(chromedp.CSS(`#add-account input[name=name]`), "newshop"),
		chromedp.SendKeys(chromedp.CSS(`#add-account input[name=password]`), "newshop-password"),
		chromedp.SendKeys(chromedp.CSS(`#add-account input[name=domains]`), "newshop.test"),
		chromedp.SendKeys(chromedp.CSS(`#add-account input[name=per_hour]`), "50"),
		submit(`#add-account button`))
	b.shot("admin-account-added")
	b.run("set limits",
		chromedp.Clear(chromedp.CSS(`form[action="/accounts/newshop/limits"] input[name=per_day]`)),
		chromedp.SendKeys(chromedp.CSS(`form[action="/accounts/newshop/limits"] input[name=per_day]`), "500"),
		submit(`form[action="/accounts/newshop/limits"] button`))
	if a, err := w.store.GetAccount(t.Context(), "newshop"); err != nil || a.Limits.PerDay != 500 || a.Limits.PerHour != 50 {
		t.Fatalf("newshop's limits: %+v %v", a, err)
	}
	b.run("suspend",
		chromedp.SendKeys(chromedp.CSS(`form[action="/accounts/newshop/suspend"] input[name=reason]`), "unpaid"),
		submit(`form[action="/accounts/newshop/suspend"] button`))
	b.shot("admin-account-suspended")
	if a, _ := w.store.GetAccount(t.Context(), "newshop"); a.Status != "suspended" || a.Reason != "unpaid" {
		t.Fatalf("after suspend: %s %q", a.Status, a.Reason)
	}
	b.run("resume", submit(`form[action="/accounts/newshop/release"] button`))
	if a, _ := w.store.GetAccount(t.Context(), "newshop"); a.Status != "active" {
		t.Fatalf("after resume: %s", a.Status)
	}

	b.open("/")
	b.run("add domain",
		chromedp.SendKeys(chromedp.CSS(`#add-domain input[name=domain]`), "newshop.test"),
		chromedp.SetValue(chromedp.CSS(`#add-domain select[name=account]`), "newshop"),
		submit(`#add-domain button`))
	b.shot("admin-domain-added")
	b.run("delete domain", submit(`form[action="/domains/newshop.test/delete"] button`))
	if strings.Contains(b.text("main"), "newshop.test") {
		t.Fatal("the deleted domain is still shown")
	}

	b.open("/ips")
	if svgs := b.count("svg.chart"); svgs != 3 { // the queue, and 127.0.0.2 × gmail, 127.0.0.3 × outlook
		t.Fatalf("%d pictures on the IP pool page", b.count("svg.chart"))
	}
	b.shot("admin-ip-pool")

	b.open("/accounts")
	b.run("delete account", submit(`form[action="/accounts/newshop/delete"] button`))
	if _, err := w.store.GetAccount(t.Context(), "newshop"); err == nil {
		t.Fatal("newshop still exists")
	}
}

// seedStats writes 48 hours of attempts and queue samples, as nodes would
// have, hour by hour.
func seedStats(t *testing.T, w *world) {
	t.Helper()
	start := w.clock.Now().Add(-47 * time.Hour)
	for h := range 48 {
		at := start.Add(time.Duration(h) * time.Hour)
		depth := 20 + (h*7)%30
		rec := stats.New(stats.Config{State: w.sharedState(), Now: func() time.Time { return at },
			Depth: func(context.Context) (int, error) { return depth, nil }})
		for i := range 30 + (h*13)%40 {
			rec.Attempt("127.0.0.2", "gmail", stats.Delivered)
			if i%6 == 0 {
				rec.Attempt("127.0.0.2", "gmail", stats.Deferred)
			}
		}
		for i := range 10 + h%12 {
			v := stats.Delivered
			if h > 30 && h < 36 && i%2 == 0 {
				v = stats.Blocked
			}
			rec.Attempt("127.0.0.3", "outlook", v)
		}
		rec.Flush(t.Context())
	}
}
