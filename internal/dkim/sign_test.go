package dkim

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/dns"
	"sendpool/internal/domain"
)

// txtMap is a TXTResolver over a map, for tests that need no DNS server.
type txtMap struct {
	mu sync.Mutex
	m  map[string][]string
}

func (t *txtMap) set(name string, v ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string][]string{}
	}
	t.m[strings.ToLower(name)] = v
}

func (t *txtMap) LookupTXT(_ context.Context, name string) ([]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.m[strings.ToLower(strings.TrimSuffix(name, "."))]; ok {
		return v, nil
	}
	return nil, &dns.Error{Name: name, Permanent: true, NotFound: true, Msg: "no TXT records"}
}

// testKeys makes one key of each algorithm for d, publishes their records
// in r and returns them as signing keys.
func testKeys(t testing.TB, d string, r *txtMap) []SigningKey {
	t.Helper()
	var out []SigningKey
	for _, alg := range []domain.Algorithm{domain.RSA, domain.Ed25519} {
		k, err := Generate(alg, Selector(nil, alg, time.Now()), domain.Active, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r.set(RecordName(k.Selector, d), RecordValue(k))
		s, err := ParsePrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, SigningKey{Selector: k.Selector, Signer: s})
	}
	return out
}

const testMessage = "From: Shop <news@shop.test>\r\n" +
	"To: a@gmail.test,\r\n b@gmail.test\r\n" +
	"Subject: Your order   has shipped\r\n" +
	"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n" +
	"Message-ID: <1@shop.test>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"List-Unsubscribe: <https://shop.test/u/1>\r\n" +
	"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" +
	"X-Mailer: test\r\n" +
	"\r\n" +
	"Hello,\r\n\r\nyour order  has shipped.\r\n"

func verifyAll(t *testing.T, r TXTResolver, msg []byte) []Verification {
	t.Helper()
	vs, err := Verify(t.Context(), r, msg)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return vs
}

func results(vs []Verification) string {
	var s []string
	for _, v := range vs {
		s = append(s, v.Algorithm+"="+string(v.Result))
	}
	return strings.Join(s, " ")
}

// TestSignVerifies: both signatures verify (go-msgauth's verifier here; the
// e2e test uses Python's dkimpy), with the listed headers and From over-signed.
func TestSignVerifies(t *testing.T) {
	r := &txtMap{}
	signed, err := Sign([]byte(testMessage), "shop.test", testKeys(t, "shop.test", r))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(signed, []byte(testMessage)) {
		t.Fatal("the signed message does not end with the original")
	}
	vs := verifyAll(t, r, signed)
	if got := results(vs); got != "rsa-sha256=pass ed25519-sha256=pass" {
		t.Fatalf("verifications: %s (%v)", got, vs)
	}
	fields, _ := splitHeader(signed)
	h := sigTags(fields[0].value)["h"]
	want := "From:To:Subject:Date:Message-ID:MIME-Version:Content-Type:List-Unsubscribe:List-Unsubscribe-Post:From"
	if !strings.EqualFold(reorder(h), reorder(want)) {
		t.Fatalf("h=%s, want the fields %s", h, want)
	}
	if c := sigTags(fields[0].value)["c"]; c != "relaxed/relaxed" {
		t.Fatalf("c=%s, want relaxed/relaxed", c)
	}
}

// reorder sorts a colon list, for comparing sets with repeats.
func reorder(h string) string {
	parts := strings.Split(strings.ToLower(h), ":")
	for i := range parts {
		for j := i + 1; j < len(parts); j++ {
			if parts[j] < parts[i] {
				parts[i], parts[j] = parts[j], parts[i]
			}
		}
	}
	return strings.Join(parts, ":")
}

// TestSignSurvivesRelaxedChanges: what relays do inside relaxed
// canonicalisation (RFC 6376 §3.4.2, §3.4.4) keeps both signatures valid;
// a changed word, or a From added above ours, does not.
func TestSignSurvivesRelaxedChanges(t *testing.T) {
	r := &txtMap{}
	signed, err := Sign([]byte(testMessage), "shop.test", testKeys(t, "shop.test", r))
	if err != nil {
		t.Fatal(err)
	}
	s := string(signed)
	mangle := []struct{ name, from, to string }{
		{"rewrapped Subject", "Subject: Your order   has shipped", "Subject: Your order\r\n\thas shipped"},
		{"header name case", "\r\nMessage-ID:", "\r\nmessage-id:"},
		{"space after colon", "Date: Mon", "Date:    Mon"},
		{"trailing space on a header", "MIME-Version: 1.0\r\n", "MIME-Version: 1.0 \t\r\n"},
		{"rewrapped To", "To: a@gmail.test,\r\n b@gmail.test", "To: a@gmail.test, b@gmail.test"},
		{"body spaces", "your order  has shipped.", "your   order\t has shipped.   "},
	}
	for _, m := range mangle {
		if !strings.Contains(s, m.from) {
			t.Fatalf("%s: %q not in the message", m.name, m.from)
		}
		s = strings.Replace(s, m.from, m.to, 1)
	}
	s += "\r\n\r\n" // empty lines at the end of the body
	s = "Received: from relay.gmail.test by mx.gmail.test; Mon, 02 Nov 2026 10:00:01 +0000\r\n" + s
	if got := results(verifyAll(t, r, []byte(s))); got != "rsa-sha256=pass ed25519-sha256=pass" {
		t.Fatalf("after relaxed changes: %s\n%s", got, s)
	}

	changed := strings.Replace(s, "shipped.", "shopped.", 1)
	if got := results(verifyAll(t, r, []byte(changed))); strings.Contains(got, "pass") {
		t.Fatalf("a changed body still verifies: %s", got)
	}
	spoofed := "From: ceo@evil.test\r\n" + s
	if got := results(verifyAll(t, r, []byte(spoofed))); strings.Contains(got, "pass") {
		t.Fatalf("a From added above the signed one still verifies (From not over-signed?): %s", got)
	}
}

func TestFromDomain(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"From: a@Shop.Test\r\n\r\n", "shop.test"},
		{"Subject: x\r\nfrom: \"Shop, Inc.\" <news@mail.shop.test>\r\n\r\nFrom: b@body.test\r\n", "mail.shop.test"},
		{"From: Shop\r\n <news@shop.test>\r\n\r\n", "shop.test"},
		{"From: a@one.test, b@two.test\r\n\r\n", "one.test"},
		{"From: Ünïcode Shop <x@shop.test>\r\n\r\n", "shop.test"},
		{"To: a@b.test\r\n\r\n", ""},
		{"From: nobody\r\n\r\n", ""},
	} {
		if got := FromDomain([]byte(tc.msg)); got != tc.want {
			t.Errorf("FromDomain(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}

func TestKeysAndRecords(t *testing.T) {
	now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	d := &domain.Domain{Name: "shop.test"}
	for _, alg := range []domain.Algorithm{domain.RSA, domain.Ed25519} {
		k, err := Generate(alg, Selector(d, alg, now), domain.Pending, now)
		if err != nil {
			t.Fatal(err)
		}
		d.Keys = append(d.Keys, k)
		if !Matches(RecordValue(k), k) {
			t.Fatalf("%s: own record %q does not match", alg, RecordValue(k))
		}
		if _, err := ParsePrivateKey(k); err != nil {
			t.Fatal(err)
		}
	}
	if d.Keys[0].Selector != "sp202611r" || d.Keys[1].Selector != "sp202611e" {
		t.Fatalf("selectors %s %s", d.Keys[0].Selector, d.Keys[1].Selector)
	}
	if s := Selector(d, domain.RSA, now); s != "sp202611r2" {
		t.Fatalf("second RSA selector of the month %q, want sp202611r2", s)
	}
	if !regexp.MustCompile(`^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$`).MatchString(RecordValue(d.Keys[1])) {
		t.Fatalf("ed25519 record %q", RecordValue(d.Keys[1]))
	}
	rsaRec := RecordValue(d.Keys[0])
	spaced := strings.Replace(strings.Replace(rsaRec, "; ", " ;  ", -1), "p=MII", "p=MII \t", 1)
	if !Matches(spaced, d.Keys[0]) {
		t.Fatalf("record with extra whitespace does not match")
	}
	for _, bad := range []string{
		"v=DKIM1; k=ed25519; p=" + d.Keys[0].PublicKey,  // wrong algorithm
		"v=DKIM1; k=rsa; p=" + d.Keys[0].PublicKey[:40], // another key
		"v=DKIM2; p=" + d.Keys[0].PublicKey,
		"v=DKIM1; p=x; p=" + d.Keys[0].PublicKey, // duplicated tag
		"v=DKIM1; k=rsa",
	} {
		if Matches(bad, d.Keys[0]) {
			t.Errorf("Matches(%q) = true", bad)
		}
	}
}
