package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/queue"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/testclock"
)

// adminIPs is a two-IP pool for the API; a suspension lasts from now, the
// test clock's time.
type adminIPs struct {
	mu  sync.Mutex
	now time.Time
	ips []api.IPStatus
}

func (p *adminIPs) IPs(ctx context.Context) []api.IPStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]api.IPStatus(nil), p.ips...)
}

func (p *adminIPs) Suspend(ctx context.Context, addr string, d time.Duration, reason string) error {
	return p.change(addr, func(ip *api.IPStatus) {
		until := p.now.Add(d)
		ip.Status, ip.Scope, ip.SuspendedUntil, ip.Reason = api.IPSuspended, "pool", &until, reason
	})
}

func (p *adminIPs) Resume(ctx context.Context, addr string) error {
	return p.change(addr, func(ip *api.IPStatus) {
		ip.Status, ip.Scope, ip.SuspendedUntil, ip.Reason = api.IPActive, "", nil, ""
	})
}

func (p *adminIPs) change(addr string, f func(*api.IPStatus)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.ips {
		if p.ips[i].Address == addr {
			f(&p.ips[i])
		}
	}
	return nil
}

type adminEnv struct {
	url   string
	store *sqlite.Store
	ips   *adminIPs
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "sendpool.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ips := &adminIPs{now: testclock.New().Now(), ips: []api.IPStatus{
		{Address: "127.0.0.2", EHLO: "mta1.sendpool.test", Weight: 1, Status: api.IPActive},
		{Address: "127.0.0.3", EHLO: "mta2.sendpool.test", Weight: 1, Status: api.IPActive},
	}}
	srv := httptest.NewServer(api.New(api.Config{Queue: st, Accounts: st, IPs: ips, Token: "tok"}))
	t.Cleanup(srv.Close)
	// The environment is the default for -api and -token; tests that want
	// otherwise pass the flags.
	t.Setenv("SENDPOOL_API", srv.URL)
	t.Setenv("SENDPOOL_TOKEN", "tok")
	return &adminEnv{url: srv.URL, store: st, ips: ips}
}

// admin runs an admin command line and returns its exit code and output.
func admin(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return adminIn(t, "", args...)
}

// adminIn runs an admin command line with stdin.
func adminIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runAdmin(args[0], args[1:], strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// mustAdmin runs a command line that must succeed and returns its output.
func mustAdmin(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := admin(t, args...)
	if code != 0 {
		t.Fatalf("%q: exit %d, stderr %s", args, code, errs)
	}
	return out
}

func wantContains(t *testing.T, what, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("%s: output lacks %q:\n%s", what, s, out)
		}
	}
}

func TestAdminAccounts(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()

	// The password from a file (the first line), not the command line.
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("correct horse battery\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustAdmin(t, "account", "add", "acme", "-password-file", pwFile, "-domains", "acme.test,acme2.test",
		"-per-hour", "100", "-foreign-from", "market.test")
	wantContains(t, "add", out, "acme", "acme.test, acme2.test", "-/100/-", "foreign from:", "market.test")
	if a, err := e.store.GetAccount(ctx, "acme"); err != nil || !account.CheckPassword(a.PasswordHash, "correct horse battery") {
		t.Errorf("after add -password-file: %+v, %v", a, err)
	}
	// From stdin with "-", on set.
	if code, _, errs := adminIn(t, "new passphrase 42\n", "account", "set", "acme", "-password-file", "-"); code != 0 {
		t.Fatalf("set -password-file -: exit %d, %s", code, errs)
	}
	if a, err := e.store.GetAccount(ctx, "acme"); err != nil || !account.CheckPassword(a.PasswordHash, "new passphrase 42") {
		t.Errorf("after set -password-file -: %v", err)
	}
	if code, _, errs := admin(t, "account", "set", "acme", "-password", "short"); code != 1 || !strings.Contains(errs, "at least 12") {
		t.Errorf("short password: exit %d, %q", code, errs)
	}
	if code, _, errs := admin(t, "account", "add", "x", "-password", "a-long-password", "-password-file", pwFile); code != 2 ||
		!strings.Contains(errs, "not both") {
		t.Errorf("both password flags: exit %d, %q", code, errs)
	}
	// Flags before and after the name, and -api/-token given explicitly.
	mustAdmin(t, "account", "add", "-api", e.url, "web1", "-networks", "192.0.2.0/24,198.51.100.7", "-token", "tok")

	out = mustAdmin(t, "account", "ls")
	wantContains(t, "ls", out, "NAME", "acme", "web1", "192.0.2.0/24,198.51.100.7/32")
	var list []account.Account
	if err := json.Unmarshal([]byte(mustAdmin(t, "account", "ls", "-json")), &list); err != nil || len(list) != 2 {
		t.Errorf("ls -json: %v %v", list, err)
	}

	mustAdmin(t, "account", "set", "acme", "-per-minute", "5", "-domains", "new.test")
	a, err := e.store.GetAccount(ctx, "acme")
	if err != nil || a.Limits != (account.Limits{PerMinute: 5, PerHour: 100}) || len(a.Domains) != 1 || a.Domains[0] != "new.test" {
		t.Errorf("after set: %+v %v", a, err)
	}
	out = mustAdmin(t, "account", "suspend", "acme", "-reason", "abuse report")
	wantContains(t, "suspend", out, "suspended (abuse report)")
	out = mustAdmin(t, "account", "show", "acme", "-json")
	if err := json.Unmarshal([]byte(out), a); err != nil || a.Status != account.StatusSuspended {
		t.Errorf("show -json: %s", out)
	}
	out = mustAdmin(t, "account", "resume", "acme")
	wantContains(t, "resume", out, "status:", "active")
	mustAdmin(t, "account", "rm", "web1")
	if _, err := e.store.GetAccount(ctx, "web1"); err != account.ErrNotFound {
		t.Errorf("after rm: %v", err)
	}

	// The API's errors reach stderr with exit 1.
	code, _, errs := admin(t, "account", "show", "web1")
	if code != 1 || !strings.Contains(errs, "404") || !strings.Contains(errs, "no such account") {
		t.Errorf("show missing: exit %d, %q", code, errs)
	}
	code, _, errs = admin(t, "account", "add", "acme", "-password", "long-enough-pw")
	if code != 1 || !strings.Contains(errs, "409") {
		t.Errorf("add existing: exit %d, %q", code, errs)
	}
	// -token and -api win over the environment.
	code, _, errs = admin(t, "account", "ls", "-token", "wrong")
	if code != 1 || !strings.Contains(errs, "401") {
		t.Errorf("wrong token: exit %d, %q", code, errs)
	}
	code, _, errs = admin(t, "account", "ls", "-api", "http://127.0.0.1:1")
	if code != 1 || !strings.Contains(errs, "127.0.0.1:1") {
		t.Errorf("-api to a closed port: exit %d, %q", code, errs)
	}
}

func TestAdminUsage(t *testing.T) {
	newAdminEnv(t)
	for _, args := range [][]string{
		{"account", "add"},                 // no name
		{"account", "show", "a", "b"},      // two names
		{"account", "set", "acme"},         // nothing to change
		{"account", "frobnicate"},          // unknown subcommand
		{"account", "ls", "-no-such-flag"}, // unknown flag
		{"queue", "ls", "-limit", "many"},  // bad flag value
		{"ip", "suspend", "127.0.0.2", "-for", "-1h"},
		{"queue"},
	} {
		if code, _, errs := admin(t, args...); code != 2 || errs == "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, code, errs)
		}
	}
	code, _, errs := admin(t, "domain", "add", "shop.test") // no -account
	if code != 2 || !strings.Contains(errs, "needs -account") {
		t.Errorf("domain add without -account: exit %d, %q", code, errs)
	}
}

func TestAdminIPs(t *testing.T) {
	e := newAdminEnv(t)
	out := mustAdmin(t, "ip", "ls")
	wantContains(t, "ls", out, "ADDRESS", "127.0.0.2", "mta2.sendpool.test", "active")
	out = mustAdmin(t, "ip", "suspend", "127.0.0.3", "-for", "2h", "-reason", "listed at dnsbl.test")
	wantContains(t, "suspend", out, "127.0.0.3", "suspended", "pool", "listed at dnsbl.test")
	var ips []api.IPStatus
	if err := json.Unmarshal([]byte(mustAdmin(t, "ip", "ls", "-json")), &ips); err != nil || len(ips) != 2 ||
		ips[1].SuspendedUntil == nil || !ips[1].SuspendedUntil.Equal(e.ips.now.Add(2*time.Hour)) {
		t.Errorf("ls -json after suspend: %+v %v", ips, err)
	}
	out = mustAdmin(t, "ip", "resume", "127.0.0.3")
	wantContains(t, "resume", out, "active")
	code, _, errs := admin(t, "ip", "resume", "127.0.0.77")
	if code != 1 || !strings.Contains(errs, "404") {
		t.Errorf("resume unknown: exit %d, %q", code, errs)
	}
}

func TestAdminQueue(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	m := &queue.Message{
		ID: queue.NewID(now), Account: "acme", From: "a@acme.test",
		Recipients: []string{"b@gmail.test"}, Body: []byte("Subject: x\r\n\r\nhi\r\n"),
		Created: now, Expires: now.Add(72 * time.Hour),
	}
	if err := e.store.Put(ctx, m); err != nil {
		t.Fatal(err)
	}
	leases, err := e.store.Lease(ctx, "test", time.Now(), time.Minute, 1)
	if err != nil || len(leases) != 1 {
		t.Fatalf("lease: %v %v", leases, err)
	}
	att := queue.Attempt{Time: now, SourceIP: "127.0.0.2", MX: "mx.gmail.test", MXAddr: "127.0.1.1:25",
		Response: "421 4.7.0 try again\nlater", Verdict: "deferred", Duration: time.Second}
	if err := e.store.Report(ctx, &leases[0], queue.Outcome{Status: queue.StatusDeferred, Attempt: att, Next: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	out := mustAdmin(t, "queue", "ls")
	wantContains(t, "ls", out, "ID", m.ID, "deferred", "a@acme.test")
	out = mustAdmin(t, "queue", "ls", "-status", "delivered")
	if strings.Contains(out, m.ID) {
		t.Errorf("ls -status delivered lists a deferred message:\n%s", out)
	}
	out = mustAdmin(t, "queue", "show", m.ID)
	wantContains(t, "show", out, "id:", m.ID, "recipient b@gmail.test: deferred", "127.0.0.2", "mx.gmail.test",
		"421 4.7.0 try again later", "1s")
	out = mustAdmin(t, "queue", "hold", m.ID)
	wantContains(t, "hold", out, "held")
	out = mustAdmin(t, "queue", "stats")
	wantContains(t, "stats", out, "STATUS", "held")
	var stats map[queue.Status]int
	if err := json.Unmarshal([]byte(mustAdmin(t, "queue", "stats", "-json")), &stats); err != nil || stats[queue.StatusHeld] != 1 {
		t.Errorf("stats -json: %v %v", stats, err)
	}
	out = mustAdmin(t, "queue", "release", m.ID)
	wantContains(t, "release", out, "deferred")
	mustAdmin(t, "queue", "retry", m.ID)
	mustAdmin(t, "queue", "rm", m.ID)
	code, _, errs := admin(t, "queue", "show", m.ID)
	if code != 1 || !strings.Contains(errs, "no such message") {
		t.Errorf("show deleted: exit %d, %q", code, errs)
	}
}
