package inbound

import (
	"bytes"
	"strings"
	"testing"

	"sendpool/internal/srs"
)

// TestDMARCAndAuthResults: mail failing SPF from a domain whose DMARC
// policy is reject is refused with 550 5.7.26; a known forwarder's is
// not; accepted mail carries exactly one Authentication-Results of ours,
// whatever it came with, with the results of the case.
func TestDMARCAndAuthResults(t *testing.T) {
	w := newWorld(t)
	w.dns.SetTXT("strict.test", "v=spf1 ip4:127.0.0.21 -all")
	w.dns.SetTXT("_dmarc.strict.test", "v=DMARC1; p=reject")
	cfg := w.config()
	cfg.DMARCOverride = []string{"127.0.0.27", "forwarder.test"}
	addr := w.start(cfg)

	forged := "Authentication-Results: MX.relay.test; spf=pass smtp.mailfrom=strict.test;\r\n\tdmarc=pass\r\n" +
		"Authentication-Results: other.example; spf=none\r\n"
	spoof := forged + message("ceo@strict.test", "alice@shop.test", "spoof", "pay this")
	err := send(t, addr, "127.0.0.22", "mta22.sender.test", "ceo@strict.test", []string{"alice@shop.test"}, spoof)
	wantReply(t, err, 550, "5.7.26", "DMARC")

	// The known forwarder's failure goes through; the real sender passes.
	if err := send(t, addr, "127.0.0.27", "mta27.sender.test", "ceo@strict.test", []string{"alice@shop.test"}, spoof); err != nil {
		t.Fatalf("a known forwarder: %v", err)
	}
	if err := send(t, addr, "127.0.0.21", "mta21.sender.test", "ceo@strict.test", []string{"bob@shop.test"},
		forged+message("ceo@strict.test", "bob@shop.test", "real", "hi")); err != nil {
		t.Fatalf("the real sender: %v", err)
	}
	msgs := w.queue.all()
	if len(msgs) != 2 {
		t.Fatalf("%d queued, want 2", len(msgs))
	}
	for i, want := range []string{"spf=fail smtp.mailfrom=strict.test", "spf=pass smtp.mailfrom=strict.test"} {
		m := msgs[i]
		head, _, _ := bytes.Cut(m.Body, []byte("\r\n\r\n"))
		var ours []string
		for _, f := range strings.Split(strings.ReplaceAll(string(head), "\r\n\t", " "), "\r\n") {
			if strings.HasPrefix(strings.ToLower(f), "authentication-results: mx.relay.test") {
				ours = append(ours, f)
			}
		}
		if len(ours) != 1 || !strings.Contains(ours[0], want) || !strings.Contains(string(head), "Authentication-Results: other.example") {
			t.Fatalf("message %d header:\n%s\nwant one A-R of ours with %q, the other server's kept", i, head, want)
		}
		dm := "dmarc=fail (p=reject) header.from=strict.test"
		if i == 1 {
			dm = "dmarc=pass (p=reject) header.from=strict.test"
		}
		if !strings.Contains(ours[0], dm) || !strings.Contains(ours[0], "dkim=none") {
			t.Fatalf("A-R %q, want %q and dkim=none", ours[0], dm)
		}
		if m.Intake == nil || m.Intake.Direction != "inbound" || m.Account != "shop" {
			t.Fatalf("intake record %+v, account %q", m.Intake, m.Account)
		}
	}
}

// TestSRSBounce: a bounce to a valid SRS address is queued for the
// original sender; a tampered one is refused 550 5.1.1.
func TestSRSBounce(t *testing.T) {
	w := newWorld(t)
	cfg := w.config()
	rw, err := srs.New(srs.Config{Domain: "srs.relay.test", Secrets: []string{"sixteen chars at least"}, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg.SRS = rw
	addr := w.start(cfg)
	addrSRS, _ := rw.Forward("someone@gmail.test")
	bounce := message("mailer-daemon@far.test", addrSRS, "bounce", "Your message could not be delivered.")
	if err := send(t, addr, "127.0.0.23", "mta23.sender.test", "", []string{addrSRS}, bounce); err != nil {
		t.Fatalf("bounce to %s: %v", addrSRS, err)
	}
	msgs := w.queue.all()
	if len(msgs) != 1 || msgs[0].From != "" || len(msgs[0].Recipients) != 1 || msgs[0].Recipients[0] != "someone@gmail.test" {
		t.Fatalf("queued %+v", msgs)
	}
	tampered := strings.Replace(addrSRS, "someone", "someone-else", 1)
	err = send(t, addr, "127.0.0.23", "mta23.sender.test", "", []string{tampered}, bounce)
	wantReply(t, err, 550, "5.1.1", "SRS")
}

// TestStripOurs: only the fields naming our authserv-id go.
func TestStripOurs(t *testing.T) {
	first := "Authentication-Results: mx.relay.test; spf=pass\r\nSubject: s\r\n\r\nb\r\n"
	if got := string(stripOurs([]byte(first), "mx.relay.test")); got != "Subject: s\r\n\r\nb\r\n" {
		t.Fatalf("stripOurs of a first field: %q", got)
	}
	in := "Received: x\r\nAuthentication-Results: (comment) mx.relay.test 1;\r\n spf=pass\r\nX-Spam-Flag: NO\r\n" +
		"Authentication-Results: mx.relay.test.evil; dkim=pass\r\nSubject: s\r\n\r\n" +
		"Authentication-Results: mx.relay.test; in the body\r\n"
	want := "Received: x\r\nAuthentication-Results: mx.relay.test.evil; dkim=pass\r\nSubject: s\r\n\r\n" +
		"Authentication-Results: mx.relay.test; in the body\r\n"
	if got := string(stripOurs([]byte(in), "MX.relay.test")); got != want {
		t.Fatalf("stripOurs:\n%q\nwant\n%q", got, want)
	}
	plain := []byte("Subject: s\r\n\r\nbody\r\n")
	if got := stripOurs(plain, "mx.relay.test"); &got[0] != &plain[0] {
		t.Fatal("a message with nothing to strip was copied")
	}
}
