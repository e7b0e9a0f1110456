package intake

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"net/netip"
	"reflect"
	"testing"

	"sendpool/internal/dkim"
	"sendpool/internal/queue"
)

// TestAcceptKeepsIntakeRecord: the message Put gets intake's verdict: how
// it came, the account, the rules with their total, each scanner's answer
// and the DKIM signatures the Sign hook added (real, folded ones).
func TestAcceptKeepsIntakeRecord(t *testing.T) {
	scan := checkFunc{"scan", func(s *Submission) error {
		s.Findings = append(s.Findings, Finding{Check: "heuristics", Rule: "SHOUTING_SUBJECT", Score: 1.5},
			Finding{Check: "rspamd", Rule: "MISSING_MID", Score: 2.5, Detail: "no Message-ID"})
		s.Scans = []queue.ScanVerdict{{Scanner: "heuristics", Result: queue.ScanClean, Score: 1.5},
			{Scanner: "clamd", Result: queue.ScanClean}}
		return nil
	}}
	f := newFixture(t, scan)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	made := []queue.DKIMSignature{{Domain: "acme.test", Selector: "sp1r", Algorithm: "rsa-sha256"},
		{Domain: "acme.test", Selector: "sp1e", Algorithm: "ed25519-sha256"}}
	f.svc.cfg.Sign = func(_ context.Context, s *Submission) ([]byte, []queue.DKIMSignature, error) {
		signed, err := dkim.Sign(s.Body, "acme.test", []dkim.SigningKey{{Selector: "sp1r", Signer: rsaKey}, {Selector: "sp1e", Signer: edKey}})
		return signed, made, err
	}
	sub := submission(f)
	sub.TLS = true
	if _, err := f.svc.Accept(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	want := &queue.Intake{Protocol: "smtp", With: "ESMTPSA", ClientIP: "127.0.0.1", Account: "acme",
		Auth: "password", TLS: true, Score: 4,
		Rules: []queue.IntakeRule{{Scanner: "heuristics", Rule: "SHOUTING_SUBJECT", Score: 1.5},
			{Scanner: "rspamd", Rule: "MISSING_MID", Score: 2.5, Detail: "no Message-ID"}},
		Scanners: []queue.ScanVerdict{{Scanner: "heuristics", Result: "clean", Score: 1.5}, {Scanner: "clamd", Result: "clean"}},
		DKIM: []queue.DKIMSignature{{Domain: "acme.test", Selector: "sp1r", Algorithm: "rsa-sha256"},
			{Domain: "acme.test", Selector: "sp1e", Algorithm: "ed25519-sha256"}},
	}
	if got := f.queue.messages()[0].Intake; !reflect.DeepEqual(got, want) {
		t.Fatalf("intake record:\n got %+v\nwant %+v", got, want)
	}
}

// TestIntakeRecordHowItCame: a trusted network's client (no "A" in the RFC
// 3848 keyword) is account by network; HTTP is http by password; an
// IPv4-mapped client address is shown as IPv4; no Sign, no signatures.
func TestIntakeRecordHowItCame(t *testing.T) {
	for _, tc := range []struct {
		via, auth string
		tls       bool
		proto     string
	}{
		{queue.ProtocolSMTP, queue.AuthNetwork, false, "ESMTP"},
		{queue.ProtocolSMTP, queue.AuthNetwork, true, "ESMTPS"},
		{queue.ProtocolSMTP, queue.AuthPassword, false, "ESMTPA"},
		{queue.ProtocolHTTP, queue.AuthPassword, true, "HTTP"},
	} {
		f := newFixture(t)
		sub := submission(f)
		sub.Via, sub.Auth, sub.TLS, sub.ClientIP = tc.via, tc.auth, tc.tls, netip.MustParseAddr("::ffff:192.0.2.9")
		if _, err := f.svc.Accept(context.Background(), sub); err != nil {
			t.Fatal(err)
		}
		in := f.queue.messages()[0].Intake
		if in.Protocol != tc.via || in.Auth != tc.auth || in.With != tc.proto ||
			in.ClientIP != "192.0.2.9" || in.DKIM != nil || in.Rules != nil || in.Score != 0 {
			t.Errorf("%s: %+v", tc.proto, in)
		}
	}
}

// TestHeaderMessageID: the first Message-ID field, unfolded, without its
// angle brackets or the comments around it; "" without one.
func TestHeaderMessageID(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"From: a@acme.test\r\nMessage-ID: <1234.5678@mail.acme.test>\r\n\r\nbody\r\n", "1234.5678@mail.acme.test"},
		{"Message-Id:\r\n <folded@acme.test> (a comment)\r\nSubject: x\r\n\r\n", "folded@acme.test"},
		{"message-id: bare@acme.test\r\n\r\n", "bare@acme.test"},
		{"Message-ID: <first@acme.test>\r\nMessage-ID: <second@acme.test>\r\n\r\n", "first@acme.test"},
		{"Subject: no id\r\n\r\nMessage-ID: <in-the-body@acme.test>\r\n", ""},
	} {
		if got := headerMessageID(readHeader([]byte(tc.msg)).messageID); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.msg, got, tc.want)
		}
	}
}
