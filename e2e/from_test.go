package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/dkim"
)

// fromMessage is a message with the given header fields first and a
// unique Message-ID.
func fromMessage(header, id string) []byte {
	return []byte(header + "To: <user@gmail.test>\r\nSubject: test " + id +
		"\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: <" + id + "@e2e.test>\r\n\r\nHello " + id + ".\r\n")
}

// TestFromRuleOverSMTP: the From: rule of SPEC §3 over real SMTP sessions
// with the built binary. An account's own domain passes; another account's
// domain, a bank's, two From: fields and a null sender with a foreign From:
// are refused 550 5.7.1 saying which rule; a forward carrying a valid
// aligned DKIM signature of a foreign domain (its key published in the
// sandbox DNS) is accepted and delivered with that signature still
// verifying by dkimpy; the same forward with one body byte changed is
// refused; foreign_from is honoured.
func TestFromRuleOverSMTP(t *testing.T) {
	t.Parallel()
	py := pyDKIM(t)
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11", "yahoo.test": "127.0.0.13"}, "")
	// gmail.test's DKIM key, as its real MX would sign with it.
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e.world.DNS.SetTXT("fw1._domainkey.yahoo.test", "v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(pub))
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	e.addAccount("other", "pw-other-secret", "other.test")

	sign := func(msg []byte) []byte {
		out, err := dkim.Sign(msg, "yahoo.test", []dkim.SigningKey{{Selector: "fw1", Signer: key}})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	forward := sign(fromMessage("From: Some One <someone@yahoo.test>\r\n", "fwd"))
	tampered := bytes.Replace(forward, []byte("Hello fwd."), []byte("Hello fwe."), 1)

	for _, c := range []struct {
		name, from string
		msg        []byte
		code       int
		text       string
	}{
		{"own domain", "sender@shop1.test", fromMessage("From: Shop <news@shop1.test>\r\n", "own"), 250, ""},
		{"another account's domain", "sender@shop1.test", fromMessage("From: <ceo@other.test>\r\n", "other"), 550,
			"5.7.1 From: domain other.test is not one of this account's domains"},
		{"a bank's domain", "sender@shop1.test", fromMessage("From: PayPal <service@paypal.com>\r\n", "bank"), 550,
			"5.7.1 From: domain paypal.com"},
		{"two From: fields", "sender@shop1.test", fromMessage("From: <news@shop1.test>\r\nFrom: <ceo@other.test>\r\n", "two"), 550,
			"5.7.1 Message has 2 From: header fields"},
		{"null sender, foreign From:", "", fromMessage("From: <service@paypal.com>\r\n", "null"), 550, "5.7.1 From: domain paypal.com"},
		{"authentic forward", "forwarder@shop1.test", forward, 250, ""},
		{"forward, one body byte changed", "forwarder@shop1.test", tampered, 550,
			"5.7.1 From: domain yahoo.test is not one of this account's domains, and no valid DKIM signature"},
	} {
		err := submit(e.smtp, "shop1", "pw-shop1-secret", c.from, []string{"user@gmail.test"}, c.msg)
		if c.code == 250 {
			if err != nil {
				t.Errorf("%s: %v, want 250", c.name, err)
			}
			continue
		}
		wantSMTP(t, c.name, err, c.code, c.text)
	}

	// The forward arrives with yahoo.test's signature intact (dkimpy), and
	// sendpool did not sign it for a domain that is not shop1's.
	got := e.receive(t, "fwd")
	vs := e.pyVerify(t, py, got)
	if len(vs) != 1 || vs[0].D != "yahoo.test" || !vs[0].OK {
		t.Fatalf("forward's signatures as dkimpy sees them: %+v", vs)
	}
	e.receive(t, "own")
	for _, id := range []string{"other", "bank", "two", "null"} {
		for _, m := range e.world.Sink("gmail.test").Messages() {
			if bytes.Contains(m.Data, []byte("<"+id+"@e2e.test>")) {
				t.Errorf("refused message %s was delivered", id)
			}
		}
	}

	// foreign_from, set by the admin, lets shop1 name market.test.
	msg := fromMessage("From: Orders <orders@market.test>\r\n", "market")
	wantSMTP(t, "market.test before foreign_from", submit(e.smtp, "shop1", "pw-shop1-secret", "sender@shop1.test",
		[]string{"user@gmail.test"}, msg), 550, "5.7.1 From: domain market.test")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ff := []string{"market.test"}
	if _, err := e.api().UpdateAccount(ctx, "shop1", api.AccountPatch{ForeignFrom: &ff}); err != nil {
		t.Fatal(err)
	}
	if err := submit(e.smtp, "shop1", "pw-shop1-secret", "sender@shop1.test", []string{"user@gmail.test"}, msg); err != nil {
		t.Fatalf("market.test with foreign_from: %v", err)
	}
	e.receive(t, "market")
	// Over HTTP the same rule holds.
	_, err = e.httpSend("shop1", "pw-shop1-secret", "sender@shop1.test", "user@gmail.test",
		fromMessage("From: <ceo@other.test>\r\n", "http"))
	wantHTTP(t, "foreign From: over HTTP", err, 403, "550 5.7.1 From: domain other.test")
}

// TestMailLoopRefused: a message carrying more than 50 Received: fields is
// refused 554 5.4.6 rather than relayed round once more.
func TestMailLoopRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, "")
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	hops := strings.Repeat("Received: from a.test by b.test; Mon, 7 Dec 2026 10:00:00 +0000\r\n", 150)
	err := submit(e.smtp, "shop1", "pw-shop1-secret", "sender@shop1.test", []string{"user@gmail.test"},
		append([]byte(hops), message("sender@shop1.test", "user@gmail.test", "loop")...))
	wantSMTP(t, "150 Received: fields", err, 554, "5.4.6")
}
