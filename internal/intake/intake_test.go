package intake

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/queue"
	"sendpool/internal/testclock"
)

type fixture struct {
	svc      *Service
	accounts *memAccounts
	queue    *memQueue
	clock    *testclock.Clock
	queued   int
	hashes   int // argon2id checks run
}

func mustHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := account.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newFixture(t *testing.T, checks ...Check) *fixture {
	t.Helper()
	f := &fixture{
		accounts: newMemAccounts(account.Account{
			Name: "acme", PasswordHash: mustHash(t, "secret"),
			Domains: []string{"acme.test"}, Status: account.StatusActive,
		}),
		queue: &memQueue{},
		clock: testclock.New(),
	}
	var mu sync.Mutex
	f.svc = New(Config{
		Accounts: f.accounts, Queue: f.queue, Now: f.clock.Now, Hostname: "relay.test",
		MaxQueueTime: 48 * time.Hour, Checks: checks,
		OnQueued: func() { mu.Lock(); f.queued++; mu.Unlock() },
	})
	check := f.svc.checkHash
	f.svc.checkHash = func(h, p string) bool { mu.Lock(); f.hashes++; mu.Unlock(); return check(h, p) }
	return f
}

func wantCode(t *testing.T, err error, code int, enhanced string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want *Error %d %s", err, code, enhanced)
	}
	if e.Code != code || e.Enhanced != enhanced {
		t.Fatalf("err = %v, want %d %s", e, code, enhanced)
	}
	return e
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, err := f.svc.Authenticate(ctx, "acme", "secret")
	if err != nil || a.Name != "acme" {
		t.Fatalf("Authenticate = %v, %v", a, err)
	}
	_, errWrong := f.svc.Authenticate(ctx, "acme", "nope")
	_, errUnknown := f.svc.Authenticate(ctx, "nobody", "secret")
	w := wantCode(t, errWrong, 535, "5.7.8")
	u := wantCode(t, errUnknown, 535, "5.7.8")
	if w.Text != u.Text {
		t.Errorf("wrong password says %q, unknown user %q: must look the same", w.Text, u.Text)
	}

	f.accounts.set(account.Account{Name: "held", PasswordHash: mustHash(t, "pw"), Status: account.StatusHeld})
	if _, err := f.svc.Authenticate(ctx, "held", "pw"); err != nil {
		t.Errorf("held account: %v, want success (Accept answers 451)", err)
	}
	f.accounts.set(account.Account{Name: "susp", PasswordHash: mustHash(t, "pw"), Status: account.StatusSuspended})
	_, err = f.svc.Authenticate(ctx, "susp", "pw")
	wantCode(t, err, 535, "5.7.8")

	f.accounts.err = errors.New("disk on fire")
	_, err = f.svc.Authenticate(ctx, "acme", "secret")
	wantCode(t, err, 454, "4.7.0")
}

func TestAuthenticateCache(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	auth := func(pw string) error { _, err := f.svc.Authenticate(ctx, "acme", pw); return err }

	for range 3 {
		if err := auth("secret"); err != nil {
			t.Fatal(err)
		}
	}
	if f.hashes != 1 {
		t.Errorf("3 good logins ran argon2id %d times, want 1 (cached)", f.hashes)
	}
	for range 2 {
		if err := auth("wrong"); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
	if f.hashes != 3 {
		t.Errorf("after 2 failures: %d hashes, want 3 (failures are never cached)", f.hashes)
	}
	f.clock.Add(authCacheTTL + time.Second)
	if err := auth("secret"); err != nil {
		t.Fatal(err)
	}
	if f.hashes != 4 {
		t.Errorf("after TTL: %d hashes, want 4 (entry expired)", f.hashes)
	}
	// A new password: the old one must not be served from the cache.
	f.accounts.set(account.Account{Name: "acme", PasswordHash: mustHash(t, "new"), Domains: []string{"acme.test"}})
	if err := auth("secret"); err == nil {
		t.Error("old password still accepted after a password change")
	}
	if err := auth("new"); err != nil {
		t.Error(err)
	}
}

func TestAuthCacheBounded(t *testing.T) {
	f := newFixture(t)
	f.svc.checkHash = func(h, p string) bool { return true }
	for i := range authCacheMax + 10 {
		f.svc.checkPassword(&account.Account{Name: "a", PasswordHash: "h"}, strings.Repeat("x", i))
	}
	if n := len(f.svc.authCache); n > authCacheMax {
		t.Errorf("cache holds %d entries, bound is %d", n, authCacheMax)
	}
}

func TestTrustedAccount(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	wide, _ := account.ParseNetworks([]string{"10.0.0.0/8"})
	narrow, _ := account.ParseNetworks([]string{"10.1.2.0/24", "2001:db8::/32"})
	f.accounts.set(account.Account{Name: "wide", Networks: wide})
	f.accounts.set(account.Account{Name: "narrow", Networks: narrow})

	for addr, want := range map[string]string{
		"10.1.2.3":          "narrow",
		"::ffff:10.1.2.3":   "narrow",
		"10.9.9.9":          "wide",
		"2001:db8::1":       "narrow",
		"192.0.2.1":         "",
		"2001:db9::1":       "",
		"::ffff:192.0.2.77": "",
	} {
		a, err := f.svc.TrustedAccount(ctx, netip.MustParseAddr(addr))
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if a != nil {
			got = a.Name
		}
		if got != want {
			t.Errorf("TrustedAccount(%s) = %q, want %q", addr, got, want)
		}
	}
	if f.accounts.lists != 1 {
		t.Errorf("%d listings for 7 lookups within a second, want 1", f.accounts.lists)
	}

	// A new network shows once the index is stale.
	extra, _ := account.ParseNetworks([]string{"192.0.2.0/28"})
	f.accounts.set(account.Account{Name: "late", Networks: extra})
	f.clock.Add(2 * trustRefresh)
	a, err := f.svc.TrustedAccount(ctx, netip.MustParseAddr("192.0.2.1"))
	if err != nil || a == nil || a.Name != "late" {
		t.Errorf("after refresh: %v, %v; want late", a, err)
	}

	f.clock.Add(2 * trustRefresh)
	f.accounts.err = errors.New("down")
	_, err = f.svc.TrustedAccount(ctx, netip.MustParseAddr("192.0.2.1"))
	wantCode(t, err, 451, "4.3.0")
}

func TestCheckSender(t *testing.T) {
	f := newFixture(t)
	a := &account.Account{Name: "acme", Domains: []string{"acme.test"}}
	for _, from := range []string{"", "news@acme.test", "x@Mail.ACME.test"} {
		if err := f.svc.CheckSender(a, from); err != nil {
			t.Errorf("CheckSender(%q) = %v", from, err)
		}
	}
	wantCode(t, f.svc.CheckSender(a, "ceo@other.test"), 553, "5.7.1")
	wantCode(t, f.svc.CheckSender(a, "x@notacme.test"), 553, "5.7.1")
	wantCode(t, f.svc.CheckSender(a, "no-at-sign"), 553, "5.1.7")
	wantCode(t, f.svc.CheckSender(nil, "x@acme.test"), 530, "5.7.0")
}

func TestCheckRecipient(t *testing.T) {
	f := newFixture(t)
	a := &account.Account{Name: "acme"}
	good := []string{"bob@gmail.test", "first.last+tag@sub.example.test", `"odd \" one"@x.test`,
		"jöran@bücher.test", "o'neil@x.test"}
	bad := []string{"", "bob", "@x.test", "bob@", "bob@localhost", "bob@[192.0.2.1]", ".bob@x.test",
		"bo..b@x.test", "bob.@x.test", "bo b@x.test", "bob@x..test", "bob@-x.test",
		strings.Repeat("a", 65) + "@x.test", "a@" + strings.Repeat("b", 250) + ".test", "bob@x.test\r\nRCPT"}
	for _, r := range good {
		if err := f.svc.CheckRecipient(a, r); err != nil {
			t.Errorf("CheckRecipient(%q) = %v, want ok", r, err)
		}
	}
	for _, r := range bad {
		err := f.svc.CheckRecipient(a, r)
		if err == nil {
			t.Errorf("CheckRecipient(%q) ok, want 553 5.1.3", r)
			continue
		}
		wantCode(t, err, 553, "5.1.3")
	}
}

const body = "From: a@acme.test\r\nTo: b@gmail.test\r\nSubject: hi\r\n\r\nhello\r\n"

func submission(f *fixture) *Submission {
	a, _ := f.accounts.GetAccount(context.Background(), "acme")
	return &Submission{Account: a, From: "a@acme.test", To: []string{"b@gmail.test", "c@yahoo.test"},
		Body: []byte(body), ClientIP: netip.MustParseAddr("127.0.0.1"), Via: queue.ProtocolSMTP, Auth: queue.AuthPassword}
}

func TestAccept(t *testing.T) {
	f := newFixture(t)
	id, err := f.svc.Accept(context.Background(), submission(f))
	if err != nil {
		t.Fatal(err)
	}
	msgs := f.queue.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages stored, want 1", len(msgs))
	}
	m := msgs[0]
	if m.ID != id || m.Account != "acme" || m.From != "a@acme.test" || len(m.Recipients) != 2 || !strings.HasSuffix(string(m.Body), "\r\n"+body) {
		t.Errorf("stored %+v, returned id %s", m, id)
	}
	// Intake's own Received field on top (RFC 5321 §4.4), naming the id.
	want := "Received: from [127.0.0.1]\r\n\tby relay.test (sendpool) with ESMTPA id " + id + ";\r\n\t"
	if !strings.HasPrefix(string(m.Body), want) {
		t.Errorf("stored body starts %.120q, want %q", m.Body, want)
	}
	now := f.clock.Now()
	if !m.Created.Equal(now) || !m.Expires.Equal(now.Add(48*time.Hour)) {
		t.Errorf("created %v expires %v, want %v and +48h", m.Created, m.Expires, now)
	}
	if f.queued != 1 {
		t.Errorf("OnQueued called %d times, want 1", f.queued)
	}
}

func TestAcceptRefusals(t *testing.T) {
	cases := []struct {
		name     string
		mod      func(*fixture, *Submission)
		code     int
		enhanced string
	}{
		{"suspended", func(f *fixture, s *Submission) {
			f.accounts.set(account.Account{Name: "acme", Domains: []string{"acme.test"}, Status: account.StatusSuspended})
		}, 550, "5.7.1"},
		{"held", func(f *fixture, s *Submission) {
			f.accounts.set(account.Account{Name: "acme", Domains: []string{"acme.test"}, Status: account.StatusHeld})
		}, 451, "4.7.1"},
		{"deleted", func(f *fixture, s *Submission) { s.Account = &account.Account{Name: "gone"} }, 550, "5.7.1"},
		{"no account", func(f *fixture, s *Submission) { s.Account = nil }, 530, "5.7.0"},
		{"foreign sender", func(f *fixture, s *Submission) { s.From = "x@evil.test" }, 553, "5.7.1"},
		{"bad recipient", func(f *fixture, s *Submission) { s.To = []string{"nope"} }, 553, "5.1.3"},
		{"no recipient", func(f *fixture, s *Submission) { s.To = nil }, 554, "5.5.1"},
		{"store down", func(f *fixture, s *Submission) { f.queue.err = errors.New("disk full") }, 451, "4.3.0"},
		{"accounts down", func(f *fixture, s *Submission) { f.accounts.err = errors.New("down") }, 451, "4.3.0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			s := submission(f)
			c.mod(f, s)
			id, err := f.svc.Accept(context.Background(), s)
			e := wantCode(t, err, c.code, c.enhanced)
			if id != "" || len(f.queue.messages()) != 0 || f.queued != 0 {
				t.Errorf("refused but id %q, %d stored, %d wake-ups", id, len(f.queue.messages()), f.queued)
			}
			if e.Temporary() != (c.code/100 == 4) {
				t.Errorf("Temporary() = %v for %d", e.Temporary(), c.code)
			}
		})
	}
}

type checkFunc struct {
	name string
	fn   func(*Submission) error
}

func (c checkFunc) Name() string                                 { return c.name }
func (c checkFunc) Check(_ context.Context, s *Submission) error { return c.fn(s) }

func TestAcceptChecks(t *testing.T) {
	var order []string
	pass := func(name string) Check {
		return checkFunc{name, func(*Submission) error { order = append(order, name); return nil }}
	}
	f := newFixture(t, pass("one"), pass("two"))
	if _, err := f.svc.Accept(context.Background(), submission(f)); err != nil {
		t.Fatal(err)
	}
	if strings.Join(order, ",") != "one,two" {
		t.Errorf("checks ran %v, want one,two", order)
	}

	order = nil
	spam := checkFunc{"scan", func(*Submission) error { return Spam("", "score 9.1") }}
	f = newFixture(t, pass("one"), spam, pass("three"))
	_, err := f.svc.Accept(context.Background(), submission(f))
	e := wantCode(t, err, 550, "5.7.1")
	if e.Check != "scan" || e.Detail != "score 9.1" {
		t.Errorf("error %+v: want check scan with its detail", e)
	}
	if strings.Join(order, ",") != "one" || len(f.queue.messages()) != 0 {
		t.Errorf("after a refusal: ran %v, stored %d", order, len(f.queue.messages()))
	}

	// A check failing with a plain error is a temporary failure.
	broken := checkFunc{"clamd", func(*Submission) error { return errors.New("connection refused") }}
	f = newFixture(t, broken)
	_, err = f.svc.Accept(context.Background(), submission(f))
	if e := wantCode(t, err, 451, "4.3.0"); e.Check != "clamd" {
		t.Errorf("check = %q, want clamd", e.Check)
	}
}

func TestNormalizeLineEndings(t *testing.T) {
	for in, want := range map[string]string{
		"a\nb":           "a\r\nb\r\n",
		"a\r\nb\r\n":     "a\r\nb\r\n",
		"a\rb\n\n.\n":    "a\r\nb\r\n\r\n.\r\n",
		"":               "",
		"x\r\n\r\n\n.\n": "x\r\n\r\n\r\n.\r\n",
	} {
		got := NormalizeLineEndings([]byte(in))
		if string(got) != want {
			t.Errorf("NormalizeLineEndings(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAcceptNormalizesBareLineEndings: bare LF and bare CR become CRLF, so
// no "<LF>.<LF>" can reach a receiver in what we relay (SMTP smuggling).
func TestAcceptNormalizesBareLineEndings(t *testing.T) {
	f := newFixture(t)
	s := submission(f)
	s.Body = []byte("From: a@acme.test\r\nSubject: x\r\n\r\na\n.\nMAIL FROM:<x@evil.test>\rb")
	if _, err := f.svc.Accept(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	got := string(f.queue.messages()[0].Body)
	if want := "\r\nFrom: a@acme.test\r\nSubject: x\r\n\r\na\r\n.\r\nMAIL FROM:<x@evil.test>\r\nb\r\n"; !strings.HasSuffix(got, want) {
		t.Errorf("stored %q, want %q", got, want)
	}
}
