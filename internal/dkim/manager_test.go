package dkim

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sendpool/internal/dns"
	"sendpool/internal/domain"
	"sendpool/internal/sandbox"
	"sendpool/internal/testclock"
)

// managerEnv is a Manager on a memory store, looking keys up in a sandbox
// DNS server over loopback through an uncached dns.Client.
type managerEnv struct {
	m     *Manager
	dns   *sandbox.DNSServer
	store *memStore
	clock *testclock.Clock
}

func newManagerEnv(t testing.TB) *managerEnv {
	t.Helper()
	srv, err := sandbox.NewDNSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	r, err := dns.New([]string{srv.Addr()}, dns.Options{Cache: dns.NoCache{}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e := &managerEnv{dns: srv, store: newMemStore(), clock: testclock.New()}
	e.m = New(Config{Store: e.store, Resolver: r, RetireAfter: 168 * time.Hour, Now: e.clock.Now})
	return e
}

// publish puts the records of the domain's keys in the given states in DNS.
func (e *managerEnv) publish(d *domain.Domain, states ...domain.KeyState) {
	for _, k := range d.Keys {
		for _, st := range states {
			if k.State == st {
				e.dns.SetTXT(RecordName(k.Selector, d.Name), RecordValue(k))
			}
		}
	}
}

// sels returns the selectors of a new RSA and Ed25519 key pair made at t:
// sp, the year and month, r or e (Selector).
func sels(t time.Time) (rsa, ed string) {
	ym := t.UTC().Format("200601")
	return "sp" + ym + "r", "sp" + ym + "e"
}

// selectors returns the s= of each signature of msg, in order.
func selectors(msg []byte) string {
	var out []string
	fields, _ := splitHeader(msg)
	for _, f := range fields {
		if strings.EqualFold(f.name, "DKIM-Signature") {
			out = append(out, sigTags(f.value)["s"])
		}
	}
	return strings.Join(out, " ")
}

func (e *managerEnv) sign(t *testing.T, account, from string) []byte {
	t.Helper()
	msg := "From: " + from + "\r\nTo: a@gmail.test\r\nSubject: hi\r\n\r\nHello.\r\n"
	out, made, err := e.m.Sign(t.Context(), account, []byte(msg))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	// What Sign says it made is what the message carries, in order.
	fields, _ := splitHeader(out)
	var carried []Signature
	for _, f := range fields {
		if strings.EqualFold(f.name, "DKIM-Signature") {
			tags := sigTags(f.value)
			carried = append(carried, Signature{Domain: tags["d"], Selector: tags["s"], Algorithm: tags["a"]})
		}
	}
	if !slices.Equal(made, carried) {
		t.Fatalf("Sign reported %+v, the message carries %+v", made, carried)
	}
	return out
}

func TestAddSignsAtOnceForItsAccountOnly(t *testing.T) {
	e := newManagerEnv(t)
	d, err := e.m.Add(t.Context(), "shop.test", "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Keys) != 2 || d.Keys[0].State != domain.Active || d.Keys[1].State != domain.Active {
		t.Fatalf("keys after Add: %+v", d.Keys)
	}
	if _, err := e.m.Add(t.Context(), "shop.test", "other"); !errors.Is(err, domain.ErrExists) {
		t.Fatalf("second Add: %v, want ErrExists", err)
	}
	r, ed := sels(e.clock.Now())
	if got := selectors(e.sign(t, "shop", "a@shop.test")); got != r+" "+ed {
		t.Fatalf("signed with %q, want %s %s", got, r, ed)
	}
	if got := selectors(e.sign(t, "shop", "News <a@news.shop.test>")); got != r+" "+ed {
		t.Fatalf("subdomain signed with %q, want the parent's keys", got)
	}
	if got := selectors(e.sign(t, "other", "a@shop.test")); got != "" {
		t.Fatalf("another account's mail signed with %q", got)
	}
	if got := selectors(e.sign(t, "shop", "a@unknown.test")); got != "" {
		t.Fatalf("unknown domain signed with %q", got)
	}
}

// TestRotationSwitchesOnlyOnceSeenInDNS: after Rotate, mail is signed with
// the old keys until the new records are published (a wrong record is not
// enough); then with the new ones, and the old ones are retired and become
// removable after RetireAfter.
func TestRotationSwitchesOnlyOnceSeenInDNS(t *testing.T) {
	e := newManagerEnv(t)
	ctx := t.Context()
	d, err := e.m.Add(ctx, "shop.test", "shop")
	if err != nil {
		t.Fatal(err)
	}
	e.publish(d, domain.Active)
	oldR, oldE := sels(e.clock.Now())
	old := oldR + " " + oldE

	e.clock.Add(40 * 24 * time.Hour) // a later month: new selectors
	newR, newE := sels(e.clock.Now())
	d, err = e.m.Rotate(ctx, "shop.test")
	if err != nil {
		t.Fatal(err)
	}
	pending := d.KeysIn(domain.Pending)
	if len(pending) != 2 || pending[0].Selector != newR || pending[1].Selector != newE {
		t.Fatalf("pending keys after Rotate: %+v", pending)
	}
	if _, err := e.m.Rotate(ctx, "shop.test"); !errors.Is(err, ErrRotationPending) {
		t.Fatalf("Rotate while pending: %v, want ErrRotationPending", err)
	}

	if d, err = e.m.Activate(ctx, "shop.test"); err != nil || len(d.KeysIn(domain.Pending)) != 2 {
		t.Fatalf("Activate before publishing: %v, %d pending", err, len(d.KeysIn(domain.Pending)))
	}
	if got := selectors(e.sign(t, "shop", "a@shop.test")); got != old {
		t.Fatalf("before publishing, signed with %q, want the old selectors", got)
	}
	// A record with another key at the new RSA selector activates nothing.
	e.dns.SetTXT(RecordName(newR, "shop.test"), RecordValue(d.Keys[0]))
	if err := e.m.ActivateAll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := selectors(e.sign(t, "shop", "a@shop.test")); got != old {
		t.Fatalf("with a wrong record, signed with %q, want the old selectors", got)
	}

	e.publish(d, domain.Pending)
	e.clock.Add(time.Hour)
	if err := e.m.ActivateAll(ctx); err != nil {
		t.Fatal(err)
	}
	signed := e.sign(t, "shop", "a@shop.test")
	if got := selectors(signed); got != newR+" "+newE {
		t.Fatalf("after publishing, signed with %q, want the new selectors", got)
	}
	if got := results(verifyAll(t, e.m.cfg.Resolver, signed)); got != "rsa-sha256=pass ed25519-sha256=pass" {
		t.Fatalf("signature with the new keys: %s", got)
	}

	d, _ = e.store.GetDomain(ctx, "shop.test")
	retired := d.KeysIn(domain.Retired)
	if len(retired) != 2 || retired[0].Selector != oldR || !retired[0].RetiredAt.Equal(e.clock.Now()) {
		t.Fatalf("retired keys: %+v", retired)
	}
	if retired[0].Removable(e.clock.Now().Add(167*time.Hour), e.m.RetireAfter()) {
		t.Fatal("old key removable before retire_after")
	}
	if !retired[0].Removable(e.clock.Now().Add(168*time.Hour), e.m.RetireAfter()) {
		t.Fatal("old key not removable after retire_after")
	}
	// A new rotation may start now that none is pending.
	if _, err := e.m.Rotate(ctx, "shop.test"); err != nil {
		t.Fatalf("Rotate after activation: %v", err)
	}
}

// TestRunActivatesPeriodically: the background check activates a published
// pending key without anyone asking.
func TestRunActivatesPeriodically(t *testing.T) {
	e := newManagerEnv(t)
	ctx := t.Context()
	if _, err := e.m.Add(ctx, "shop.test", "shop"); err != nil {
		t.Fatal(err)
	}
	d, err := e.m.Rotate(ctx, "shop.test")
	if err != nil {
		t.Fatal(err)
	}
	e.publish(d, domain.Pending)
	go e.m.Run(ctx, 20*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, _ = e.store.GetDomain(ctx, "shop.test")
		if len(d.KeysIn(domain.Pending)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pending keys not activated by Run")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(d.KeysIn(domain.Active)); n != 2 {
		t.Fatalf("%d active keys, want 2", n)
	}
}

// TestAlgorithmsChooseWhichKeysSign: with Algorithms set, Add still makes
// a key of each type (their records are published), but only the chosen
// types sign; each such signature verifies and is dated by the clock.
func TestAlgorithmsChooseWhichKeysSign(t *testing.T) {
	for _, tc := range []struct {
		algs []domain.Algorithm
		want string
	}{
		{[]domain.Algorithm{domain.Ed25519}, "ed25519-sha256=pass"},
		{[]domain.Algorithm{domain.RSA}, "rsa-sha256=pass"},
		{[]domain.Algorithm{domain.Ed25519, domain.RSA}, "rsa-sha256=pass ed25519-sha256=pass"},
		{nil, "rsa-sha256=pass ed25519-sha256=pass"},
	} {
		e := newManagerEnv(t)
		e.m.cfg.Algorithms = tc.algs
		d, err := e.m.Add(t.Context(), "shop.test", "shop")
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Keys) != 2 || d.Keys[0].Algorithm != domain.RSA || d.Keys[1].Algorithm != domain.Ed25519 {
			t.Fatalf("%v: keys after Add: %+v", tc.algs, d.Keys)
		}
		e.publish(d, domain.Active)
		signed := e.sign(t, "shop", "a@shop.test")
		if got := results(verifyAll(t, e.m.cfg.Resolver, signed)); got != tc.want {
			t.Fatalf("%v: signatures %q, want %q", tc.algs, got, tc.want)
		}
		fields, _ := splitHeader(signed)
		if ts := sigTags(fields[0].value)["t"]; ts != strconv.FormatInt(e.clock.Now().Unix(), 10) {
			t.Fatalf("t=%s, want the clock's %d", ts, e.clock.Now().Unix())
		}
	}
}

func TestParseAlgorithmName(t *testing.T) {
	for _, alg := range []domain.Algorithm{domain.RSA, domain.Ed25519} {
		if got, err := ParseAlgorithmName(AlgorithmName(alg)); err != nil || got != alg {
			t.Errorf("ParseAlgorithmName(%q) = %q, %v", AlgorithmName(alg), got, err)
		}
	}
	for _, bad := range []string{"", "rsa", "rsa-sha1", "ED25519-SHA256"} {
		if _, err := ParseAlgorithmName(bad); err == nil {
			t.Errorf("ParseAlgorithmName(%q) accepted", bad)
		}
	}
}
