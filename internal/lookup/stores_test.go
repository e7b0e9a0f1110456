package lookup

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/dkim"
	"sendpool/internal/domain"
	"sendpool/internal/store/sqlite"
)

// node is one node's view of a shared store: its own caches and clock.
type node struct {
	clock    *clock
	accounts *Accounts
	domains  *Domains
}

func newNode(st *sqlite.Store, ttl time.Duration) *node {
	clk := newClock()
	return &node{clock: clk, accounts: NewAccounts(st, ttl, clk.Now), domains: NewDomains(st, ttl, clk.Now)}
}

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := openBenchStore(t)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func openBenchStore(t testing.TB) (*sqlite.Store, error) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "queue.db"), sqlite.Options{})
	if err == nil {
		t.Cleanup(func() { st.Close() })
	}
	return st, err
}

func getAccount(t *testing.T, s *Accounts, name string) *account.Account {
	t.Helper()
	a, err := s.GetAccount(t.Context(), name)
	if err != nil {
		t.Fatalf("GetAccount(%s): %v", name, err)
	}
	return a
}

// TestAccountsWriteThroughNode: a change made through a node's Accounts is
// seen by that node's next read at once, by another node's once its entry
// expires (and not before: the entry is what saves the reads).
func TestAccountsWriteThroughNode(t *testing.T) {
	st := openStore(t)
	ctx := t.Context()
	a, b := newNode(st, 5*time.Second), newNode(st, 5*time.Second)

	// Not found is cached, and forgotten by a create through the node.
	if _, err := a.accounts.GetAccount(ctx, "acme"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("GetAccount of none: %v", err)
	}
	hash, err := account.HashPassword("old")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.accounts.CreateAccount(ctx, &account.Account{Name: "acme", PasswordHash: hash,
		Domains: []string{"acme.test"}, Status: account.StatusActive}); err != nil {
		t.Fatal(err)
	}
	getAccount(t, a.accounts, "acme")
	getAccount(t, b.accounts, "acme")

	// A caller changing what it got changes nothing cached.
	got := getAccount(t, a.accounts, "acme")
	got.Domains[0] = "evil.test"
	got.Status = account.StatusSuspended
	if again := getAccount(t, a.accounts, "acme"); again.Domains[0] != "acme.test" || again.Status != account.StatusActive {
		t.Fatalf("cached account changed through a caller's copy: %+v", again)
	}

	for _, step := range []struct {
		what   string
		change func(*account.Account)
		same   func(*account.Account) bool
	}{
		{"suspend", func(x *account.Account) { x.Status, x.Reason = account.StatusSuspended, "abuse" },
			func(x *account.Account) bool { return x.Status == account.StatusSuspended }},
		{"hold", func(x *account.Account) { x.Status = account.StatusHeld },
			func(x *account.Account) bool { return x.Status == account.StatusHeld }},
		{"limits", func(x *account.Account) { x.Limits.PerHour = 7 },
			func(x *account.Account) bool { return x.Limits.PerHour == 7 }},
		{"password", func(x *account.Account) { x.PasswordHash, _ = account.HashPassword("new") },
			func(x *account.Account) bool { return account.CheckPassword(x.PasswordHash, "new") }},
	} {
		x := getAccount(t, a.accounts, "acme")
		step.change(x)
		if err := a.accounts.UpdateAccount(ctx, x); err != nil {
			t.Fatal(err)
		}
		if !step.same(getAccount(t, a.accounts, "acme")) {
			t.Fatalf("%s: not seen at once by the node that made it", step.what)
		}
		if step.same(getAccount(t, b.accounts, "acme")) {
			t.Fatalf("%s: seen by the other node before its entry expired (was it cached?)", step.what)
		}
		b.clock.Add(5 * time.Second)
		if !step.same(getAccount(t, b.accounts, "acme")) {
			t.Fatalf("%s: not seen by the other node after the TTL", step.what)
		}
	}

	if err := a.accounts.DeleteAccount(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.accounts.GetAccount(ctx, "acme"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("GetAccount after delete through the node: %v, want ErrNotFound", err)
	}
	b.clock.Add(5 * time.Second)
	if _, err := b.accounts.GetAccount(ctx, "acme"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("GetAccount on the other node after the TTL: %v, want ErrNotFound", err)
	}
}

// txt is a TXTResolver over a map: the DNS zone the keys are published in.
type txt struct {
	mu sync.Mutex
	m  map[string]string
}

func (r *txt) LookupTXT(_ context.Context, name string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.m[name]; ok {
		return []string{v}, nil
	}
	return nil, nil
}

func (r *txt) publish(d *domain.Domain) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range d.Keys {
		r.m[dkim.RecordName(k.Selector, d.Name)] = dkim.RecordValue(k)
	}
}

// signedWith returns the selectors of the signatures dkim put on msg.
func signedWith(t *testing.T, m *dkim.Manager, msg string) []string {
	t.Helper()
	out, _, err := m.Sign(t.Context(), "acme", []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	var sels []string
	for _, f := range strings.Split(string(out), "s=")[1:] {
		sel, _, _ := strings.Cut(f, ";")
		sels = append(sels, sel)
	}
	return sels
}

// TestDomainsDKIMRotation: a rotation made on one node signs there at once
// and on another within the TTL; a node whose copy is stale still rotates
// correctly (its UpdateDomain conflicts, forgets, and reads afresh).
func TestDomainsDKIMRotation(t *testing.T) {
	st := openStore(t)
	ctx := t.Context()
	a, b := newNode(st, 5*time.Second), newNode(st, 5*time.Second)
	zone := &txt{m: map[string]string{}}
	ma := dkim.New(dkim.Config{Store: a.domains, Resolver: zone, Now: a.clock.Now})
	mb := dkim.New(dkim.Config{Store: b.domains, Resolver: zone, Now: b.clock.Now})
	msg := "From: s@news.shop.test\r\nTo: u@example.test\r\nSubject: hi\r\n\r\nHello.\r\n"

	// b caches "no such domain" for news.shop.test and shop.test.
	if sels := signedWith(t, mb, msg); len(sels) != 0 {
		t.Fatalf("signed before the domain exists: %v", sels)
	}
	d, err := ma.Add(ctx, "shop.test", "acme")
	if err != nil {
		t.Fatal(err)
	}
	zone.publish(d)
	old := []string{d.Keys[0].Selector, d.Keys[1].Selector}
	if sels := signedWith(t, ma, msg); !equal(sels, old) {
		t.Fatalf("node a after adding: %v, want %v", sels, old)
	}
	if sels := signedWith(t, mb, msg); len(sels) != 0 {
		t.Fatalf("node b within the TTL of its not-found: %v, want unsigned", sels)
	}
	b.clock.Add(5 * time.Second)
	if sels := signedWith(t, mb, msg); !equal(sels, old) {
		t.Fatalf("node b after the TTL: %v, want %v", sels, old)
	}

	// Rotate and activate on a, its clock a month on for new selectors.
	a.clock.Add(31 * 24 * time.Hour)
	d, err = ma.Rotate(ctx, "shop.test")
	if err != nil {
		t.Fatal(err)
	}
	zone.publish(d)
	if d, err = ma.Activate(ctx, "shop.test"); err != nil {
		t.Fatal(err)
	}
	neu := []string{d.Keys[2].Selector, d.Keys[3].Selector}
	if sels := signedWith(t, ma, msg); !equal(sels, neu) {
		t.Fatalf("node a after activating: %v, want %v at once", sels, neu)
	}
	// b signs with the retired keys, whose records stay published, until
	// its entry expires.
	if sels := signedWith(t, mb, msg); !equal(sels, old) {
		t.Fatalf("node b within the TTL: %v, want %v", sels, old)
	}
	b.clock.Add(5 * time.Second)
	if sels := signedWith(t, mb, msg); !equal(sels, neu) {
		t.Fatalf("node b after the TTL: %v, want %v", sels, neu)
	}

	// a rotates again; b, holding the copy without the pending keys, is
	// refused as it should be rather than by a conflict.
	if _, err := ma.Rotate(ctx, "shop.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Rotate(ctx, "shop.test"); !errors.Is(err, dkim.ErrRotationPending) {
		t.Fatalf("rotate on the node with a stale copy: %v, want ErrRotationPending", err)
	}
	cur, err := st.GetDomain(ctx, "shop.test")
	if err != nil || len(cur.Keys) != 6 {
		t.Fatalf("stored domain: %d keys, %v; want 6", len(cur.Keys), err)
	}
}

func equal(a, b []string) bool { return strings.Join(a, " ") == strings.Join(b, " ") }
