package dkim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// rfc8463Message is the signed example of RFC 8463 Appendix A.3 (its
// Ed25519 signature; the RSA one is left out), and rfc8463Record the key
// record of A.2.
const (
	rfc8463Message = "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n" +
		" d=football.example.com; i=@football.example.com;\r\n" +
		" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n" +
		" subject : date : message-id : from : subject : date;\r\n" +
		" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n" +
		" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n" +
		" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n" +
		"From: Joe SixPack <joe@football.example.com>\r\n" +
		"To: Suzie Q <suzie@shopping.example.net>\r\n" +
		"Subject: Is dinner ready?\r\n" +
		"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n" +
		"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n" +
		"\r\n" +
		"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n"
	rfc8463PublicKey = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
)

// TestRFC8463Vector: our relaxed body hash of the RFC's example is its bh=,
// and our relaxed header canonicalisation, hashed with SHA-256, is what
// its Ed25519 signature signs (RFC 8463 §3: Ed25519 over the SHA-256 hash).
func TestRFC8463Vector(t *testing.T) {
	fields, body := splitHeader([]byte(rfc8463Message))
	bh := newBodyHash()
	bh.Write([]byte(rfc8463Message)[body:])
	if got := base64.StdEncoding.EncodeToString(bh.Sum()); got != "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=" {
		t.Fatalf("bh=%s", got)
	}
	var data []byte
	for _, i := range []int{1, 2, 3, 4, 5} { // from, to, subject, date, message-id; the rest signs absences
		data = appendRelaxedHeader(data, fields[i].name, fields[i].value)
	}
	sig := fields[0]
	noB := regexp.MustCompile(`b=[^;]+$`).ReplaceAllString(sig.value, "b=")
	data = appendRelaxedHeader(data, sig.name, noB)
	digest := sha256.Sum256(data[:len(data)-2])
	pub, _ := base64.StdEncoding.DecodeString(rfc8463PublicKey)
	b, _ := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(sigTags(sig.value)["b"]), ""))
	if !ed25519.Verify(pub, digest[:], b) {
		t.Fatalf("the RFC's signature does not verify over our canonical header:\n%q", data)
	}
}

func TestRelaxedHeader(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"Subject", " Your order   has shipped", "subject:Your order has shipped\r\n"},
		{"SUBJECT", "\t a\r\n\tb  \t", "subject:a b\r\n"},
		{"To", " a@b.test,\r\n c@d.test ", "to:a@b.test, c@d.test\r\n"},
		{"X-Empty", "   ", "x-empty:\r\n"},
		{"Date", "Mon, 02 Nov 2026 10:00:00 +0000", "date:Mon, 02 Nov 2026 10:00:00 +0000\r\n"},
		{"Reply-To", " a: b ;c", "reply-to:a: b ;c\r\n"},
	} {
		if got := string(appendRelaxedHeader(nil, tc.name, tc.value)); got != tc.want {
			t.Errorf("%s:%q → %q, want %q", tc.name, tc.value, got, tc.want)
		}
	}
}

// msgauthBodyHash is go-msgauth's relaxed body hash of msg (the bh= of its
// own signature), the reference ours must equal.
func msgauthBodyHash(t testing.TB, signer crypto.Signer, msg []byte) string {
	t.Helper()
	s, err := msgdkim.NewSigner(&msgdkim.SignOptions{
		Domain: "shop.test", Selector: "ref", Signer: signer,
		HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
		BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Write(msg)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(sigTags(strings.TrimPrefix(s.Signature(), "DKIM-Signature:"))["bh"]), "")
}

// ourBodyHash is our bh= of body, written in the pieces cut at cuts.
func ourBodyHash(body []byte, cuts ...int) string {
	b := newBodyHash()
	prev := 0
	for _, c := range cuts {
		b.Write(body[prev:c])
		prev = c
	}
	b.Write(body[prev:])
	return base64.StdEncoding.EncodeToString(b.Sum())
}

// randomBody makes a body of the pieces relaxed canonicalisation cares
// about: words, runs of SP and HTAB, CRLF, bare LF and CR, empty lines at
// the end, 8-bit bytes.
func randomBody(r *rand.Rand) []byte {
	pieces := []string{"word", "x", ".", " ", "  ", "\t", " \t ", "\r\n", "\r\n", "\n", "\r", "\r\n\r\n", "é", "\x00", "=20"}
	var b []byte
	for range r.IntN(60) {
		b = append(b, pieces[r.IntN(len(pieces))]...)
	}
	return b
}

// TestBodyHashMatchesGoMsgauth: for tricky and random bodies, written
// whole or in pieces cut anywhere (streaming), our bh= is go-msgauth's.
func TestBodyHashMatchesGoMsgauth(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	bodies := []string{
		"", "\r\n", "\r\n\r\n", " ", " \r\n \r\n", "a", "a\r\n", "a\r\n\r\n\r\n", "a \r\n", "a\t\r\n",
		" a", "  a  b  ", "a\r\n \r\nb", "a\n\nb\n", "a\r\rb", "a \rb", "a\r", "a\r\n\r", "\ta\r\n\t\r\n",
		"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n",
		strings.Repeat("line with  two spaces \r\n", 500) + "\r\n\r\n",
		strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n", 300),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		bodies = append(bodies, string(randomBody(r)))
	}
	for _, body := range bodies {
		msg := []byte("From: a@shop.test\r\n\r\n" + body)
		want := msgauthBodyHash(t, key, msg)
		b := []byte(body)
		if got := ourBodyHash(b); got != want {
			t.Fatalf("body %q: bh=%s, go-msgauth %s", body, got, want)
		}
		if len(b) > 1 {
			cuts := []int{r.IntN(len(b)), r.IntN(len(b))}
			if cuts[0] > cuts[1] {
				cuts[0], cuts[1] = cuts[1], cuts[0]
			}
			if got := ourBodyHash(b, cuts...); got != want {
				t.Fatalf("body %q cut at %v: bh=%s, go-msgauth %s", body, cuts, got, want)
			}
		}
	}
	// Every cut of one body with every kind of piece.
	body := []byte("a  b\t \r\n\r\n c\n\rd \r\n \r\n\r\n")
	want := ourBodyHash(body)
	for i := range len(body) + 1 {
		for j := i; j <= len(body); j++ {
			if got := ourBodyHash(body, i, j); got != want {
				t.Fatalf("cut at %d, %d: %s, want %s", i, j, got, want)
			}
		}
	}
}

// fuzzNames are the header names the fuzz test builds fields with: signed
// ones in odd case and unsigned ones.
var fuzzNames = []string{"From", "to", "CC", "Subject", "date", "Message-Id", "Reply-To", "MIME-Version",
	"content-type", "List-Unsubscribe", "X-Mailer", "Received", "DKIM-Signature-X"}

// fuzzMessage builds a message from fuzz input: each line of head is a
// field (name chosen by its length, '|' folding the value), body as it is.
func fuzzMessage(head, body []byte) []byte {
	var msg []byte
	for i, line := range bytes.Split(head, []byte("\n")) {
		if i >= 40 {
			break
		}
		line = bytes.ReplaceAll(line, []byte("\r"), nil)
		line = bytes.ReplaceAll(line, []byte("|"), []byte("\r\n\t"))
		msg = append(msg, fuzzNames[len(line)%len(fuzzNames)]...)
		msg = append(msg, ':')
		msg = append(msg, line...)
		msg = append(msg, "\r\n"...)
	}
	msg = append(msg, "\r\n"...)
	return append(msg, body...)
}

// FuzzSign: any header and body, signed by us with an RSA and an Ed25519
// key, verifies with go-msgauth, and our bh= is go-msgauth's.
func FuzzSign(f *testing.F) {
	f.Add([]byte(" Shop <news@shop.test>\n a@gmail.test,| b@gmail.test\n Your   order\n"), []byte("Hello,\r\n\r\nyour  order.\r\n\r\n"))
	f.Add([]byte("x\n\ty\n"), []byte(" \t\r\n\n\r"))
	f.Add([]byte(""), []byte(""))
	r := &txtMap{}
	keys := testKeys(f, "shop.test", r)
	f.Fuzz(func(t *testing.T, head, body []byte) {
		msg := fuzzMessage(head, body)
		signed, err := Sign(msg, "shop.test", keys)
		if err != nil {
			t.Fatal(err)
		}
		if got := results(verifyAll(t, r, signed)); got != "rsa-sha256=pass ed25519-sha256=pass" {
			t.Fatalf("verifications: %s\n%q", got, signed)
		}
		fields, _ := splitHeader(signed)
		want := msgauthBodyHash(t, keys[1].Signer, msg)
		for _, f := range fields[:2] {
			if bh := strings.Join(strings.Fields(sigTags(f.value)["bh"]), ""); bh != want {
				t.Fatalf("bh=%s, go-msgauth %s", bh, want)
			}
		}
	})
}
