package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/dkim"
	"sendpool/internal/domain"
	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
)

// The MX side (SPEC §7, issue 16): outside senders are swaks and a
// private Postfix, from chosen 127.0.0.x addresses; the sandbox DNS
// serves the DNSBL zone bl.test and the senders' SPF, DKIM and DMARC;
// the hosted domain shop.test's inbound_host is the shop.test sink.

// inboundDomains: gmail.test and outlook.test are outside receivers,
// shop.test's sink is the hosting server holding the mailboxes.
var inboundDomains = map[string]string{"gmail.test": "127.0.0.11", "outlook.test": "127.0.0.12", "shop.test": "127.0.0.15"}

const shopPassword = "pw-shop-secret-1"

// inboundConfig is the [inbound] section for an MX on mx.
func inboundConfig(mx, extra string) string {
	return fmt.Sprintf(`
[inbound]
listen = [%q]
greet_pause = "1s"
greylist_delay = "2s"
ban_for = "10m"
srs_domain = "srs.relay.sendpool.test"
srs_secrets = ["e2e srs secret 0123456789"]
%s
[[inbound.dnsbl]]
zone = "bl.test"
weight = 1.0
codes = ["127.0.0.2"]
`, mx, extra)
}

// newMX starts a node whose MX listens on a free port, the account shop
// hosting shop.test at its sink (which knows alice@ and bob@), and the
// sandbox DNS names of the clients 127.0.0.20-39 (forward-confirmed).
func newMX(t *testing.T, extra string) (e *env, mx string) {
	t.Helper()
	mx = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e = newEnv(t, inboundDomains, inboundConfig(mx, extra))
	setupMXWorld(e.world)
	e.serve()
	e.addHostingAccount()
	return e, mx
}

func setupMXWorld(w *sandbox.World) {
	for i := 20; i < 40; i++ {
		ip := fmt.Sprintf("127.0.0.%d", i)
		name := fmt.Sprintf("mta%d.sender.test", i)
		w.DNS.SetPTR(ip, name)
		w.DNS.SetA(name, ip)
	}
	w.Sink("shop.test").SetHandler(func(ev sandbox.Event) *sandbox.Reply {
		if ev.Stage == sandbox.StageRcpt && ev.Rcpt != "alice@shop.test" && ev.Rcpt != "bob@shop.test" {
			return &sandbox.Reply{Text: "550 5.1.1 <" + ev.Rcpt + ">: no such user"}
		}
		return nil
	})
}

func (e *env) addHostingAccount() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.api().CreateAccount(ctx, api.AccountRequest{Name: "shop", Password: shopPassword,
		Domains: []string{"shop.test"}, InboundHost: e.world.Sink("shop.test").Addr()}); err != nil {
		e.t.Fatal(err)
	}
}

// swaks runs swaks from the address src against addr and returns its
// transcript. args are more swaks options.
func swaks(t *testing.T, addr, src string, args ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	all := append([]string{"--server", host, "--port", port, "--local-interface", src, "--timeout", "20"}, args...)
	out, _ := exec.Command("swaks", all...).CombinedOutput()
	return string(out)
}

// swaksMessage writes msg to a file for swaks --data.
func swaksMessage(t *testing.T, msg []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "msg.eml")
	if err := os.WriteFile(f, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func wantIn(t *testing.T, transcript, want string) {
	t.Helper()
	if !strings.Contains(transcript, want) {
		t.Fatalf("swaks transcript lacks %q:\n%s", want, transcript)
	}
}

// signAs DKIM-signs msg as d with a new key under selector sel, published
// in the world's DNS (a new selector each time: the node caches keys).
func signAs(t *testing.T, w *sandbox.World, d, sel string, msg []byte) []byte {
	t.Helper()
	k, err := dkim.Generate(domain.RSA, sel, domain.Active, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := dkim.ParsePrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	w.DNS.SetTXT(dkim.RecordName(sel, d), dkim.RecordValue(k))
	signed, err := dkim.Sign(msg, d, []dkim.SigningKey{{Selector: sel, Signer: signer}})
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// ourAuthResults returns the Authentication-Results fields of msg that
// name relay.sendpool.test, unfolded.
func ourAuthResults(msg []byte) []string {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	var out []string
	for _, f := range strings.Split(strings.ReplaceAll(string(head), "\r\n\t", " "), "\r\n") {
		if strings.HasPrefix(strings.ToLower(f), "authentication-results: relay.sendpool.test") {
			out = append(out, f)
		}
	}
	return out
}

func TestInboundGate(t *testing.T) {
	e, mx := newMX(t, "")
	w := e.world
	w.DNS.SetA("61.0.0.127.bl.test", "127.0.0.2")
	w.DNS.SetA("32.0.0.127.bl.test", "127.255.255.254")
	w.DNS.SetTXT("partner.test", "v=spf1 ip4:127.0.0.21 -all")
	w.DNS.SetTXT("_dmarc.partner.test", "v=DMARC1; p=reject")
	ctx := context.Background()

	// A listed client: 554 at the banner, naming the zone.
	out := swaks(t, mx, "127.0.0.61", "--from", "x@partner.test", "--to", "alice@shop.test")
	wantIn(t, out, "554 5.7.1 Service unavailable; client [127.0.0.61] blocked using bl.test")

	// An unknown recipient (the callout's answer) and a domain not hosted
	// are refused before DATA; nothing is queued.
	out = swaks(t, mx, "127.0.0.21", "--helo", "mta21.sender.test", "--from", "news@partner.test", "--to", "nobody@shop.test")
	wantIn(t, out, "550 5.1.1")
	out = swaks(t, mx, "127.0.0.21", "--helo", "mta21.sender.test", "--from", "news@partner.test", "--to", "someone@outlook.test")
	wantIn(t, out, "550 5.7.1 Relay not permitted")
	if ms, err := e.api().Messages(ctx, queue.Filter{}); err != nil || len(ms) != 0 {
		t.Fatalf("queued after refusals: %v, %v", ms, err)
	}

	// SPF fails under p=reject: 550 5.7.26.
	spoof := message("ceo@partner.test", "alice@shop.test", "spoof")
	out = swaks(t, mx, "127.0.0.22", "--helo", "mta22.sender.test", "--from", "ceo@partner.test", "--to", "alice@shop.test",
		"--data", swaksMessage(t, spoof))
	wantIn(t, out, "550 5.7.26")

	// Content: GTUBE and EICAR.
	gtube := message("news@partner.test", "alice@shop.test", "gtube")
	gtube = append(gtube, "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n"...)
	out = swaks(t, mx, "127.0.0.21", "--helo", "mta21.sender.test", "--from", "news@partner.test", "--to", "alice@shop.test",
		"--data", swaksMessage(t, gtube))
	wantIn(t, out, "550 5.7.1")
	eicar := message("news@partner.test", "alice@shop.test", "eicar")
	eicar = append(eicar, `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`+"\r\n"...)
	out = swaks(t, mx, "127.0.0.21", "--helo", "mta21.sender.test", "--from", "news@partner.test", "--to", "alice@shop.test",
		"--data", swaksMessage(t, eicar))
	wantIn(t, out, "554 5.7.1")

	// Accepted: DKIM-signed, SPF passing, with a forged A-R of ours that
	// goes; it reaches the inbound_host with exactly one of ours.
	signed := signAs(t, w, "partner.test", "s1", message("news@partner.test", "alice@shop.test", "welcome"))
	forged := append([]byte("Authentication-Results: relay.sendpool.test; dkim=pass header.d=bank.test\r\n"), signed...)
	out = swaks(t, mx, "127.0.0.21", "--helo", "mta21.sender.test", "--from", "news@partner.test", "--to", "alice@shop.test",
		"--data", swaksMessage(t, forged))
	wantIn(t, out, "250 2.0.0 Ok: queued as")
	got := waitMessage(t, w.Sink("shop.test"), "welcome")
	ars := ourAuthResults(got.Data)
	if len(ars) != 1 {
		t.Fatalf("%d Authentication-Results of ours, want 1:\n%s", len(ars), got.Data)
	}
	for _, want := range []string{"spf=pass smtp.mailfrom=partner.test", "dkim=pass header.d=partner.test header.s=s1",
		"dmarc=pass (p=reject) header.from=partner.test"} {
		if !strings.Contains(ars[0], want) {
			t.Fatalf("Authentication-Results %q lacks %q", ars[0], want)
		}
	}
	if got.From != "news@partner.test" || len(got.To) != 1 || got.To[0] != "alice@shop.test" {
		t.Fatalf("envelope at the inbound_host: %s → %v", got.From, got.To)
	}

	// A zone answering its error code: accepted, the error counted.
	out = swaks(t, mx, "127.0.0.32", "--helo", "mta32.sender.test", "--from", "x@elsewhere.test", "--to", "bob@shop.test",
		"--data", swaksMessage(t, message("x@elsewhere.test", "bob@shop.test", "zone-error")))
	wantIn(t, out, "250 2.0.0 Ok: queued as")
	waitMessage(t, w.Sink("shop.test"), "zone-error")
	m, err := e.api().Metrics(ctx)
	if err != nil || !strings.Contains(m, `sendpool_inbound_dnsbl_zone_errors_total{zone="bl.test"} 1`) ||
		!strings.Contains(m, `sendpool_inbound_decisions_total{action="rejected",check="dmarc"} 1`) {
		t.Fatalf("metrics:\n%s\n%v", grepLines(m, "sendpool_inbound"), err)
	}

	// A suspicious client (no reverse name) is greylisted; its retry from
	// another address of its /24 after the delay passes.
	grey := swaksMessage(t, message("x@elsewhere.test", "bob@shop.test", "greylisted"))
	out = swaks(t, mx, "127.0.0.81", "--helo", "pool.elsewhere.test", "--from", "x@elsewhere.test", "--to", "bob@shop.test", "--data", grey)
	wantIn(t, out, "451 4.7.1")
	time.Sleep(2500 * time.Millisecond)
	out = swaks(t, mx, "127.0.0.82", "--helo", "pool.elsewhere.test", "--from", "x@elsewhere.test", "--to", "bob@shop.test", "--data", grey)
	wantIn(t, out, "250 2.0.0 Ok: queued as")

	// The decisions through the CLI.
	cli, code := e.adminCLI("inbound", "decisions", "-limit", "100")
	if code != 0 || !strings.Contains(cli, "dnsbl") || !strings.Contains(cli, "greylist") || !strings.Contains(cli, "accepted") {
		t.Fatalf("inbound decisions (%d):\n%s", code, cli)
	}
}

// waitMessage waits for the message whose Subject ends in subject.
func waitMessage(t *testing.T, s *sandbox.Sink, subject string) sandbox.Message {
	t.Helper()
	var got sandbox.Message
	waitFor(t, 30*time.Second, "message "+subject, func() bool {
		for _, m := range s.Messages() {
			if bytes.Contains(m.Data, []byte("Subject: test "+subject+"\r\n")) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// TestInboundPregreetBannedOnEveryNode: two nodes share Redis; a client
// that talks before node A's banner is dropped, and node B refuses it
// (421 4.7.0) until an admin lifts the ban.
func TestInboundPregreetBannedOnEveryNode(t *testing.T) {
	mxA := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mxB := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a, b := newCluster(t, inboundDomains, 13, inboundConfig(mxA, ""))
	writeFile(t, b.config, strings.Replace(readFile(t, b.config), fmt.Sprintf("%q", mxA), fmt.Sprintf("%q", mxB), 1))
	setupMXWorld(a.world)
	a.serve()
	b.serve()
	a.addHostingAccount()

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.91")}}
	conn, err := d.Dial("tcp", mxA)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("EHLO in.a.hurry\r\nMAIL FROM:<x@spam.test>\r\n"))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	reply, _ := bytes.NewBuffer(nil), 0
	buf := make([]byte, 512)
	n, _ := conn.Read(buf)
	reply.Write(buf[:n])
	conn.Close()
	if strings.HasPrefix(reply.String(), "220") {
		t.Fatalf("a pregreeting client got the banner: %q", reply)
	}
	out := swaks(t, mxB, "127.0.0.91", "--from", "x@spam.test", "--to", "alice@shop.test")
	wantIn(t, out, "421 4.7.0")
	cli, code := b.adminCLI("inbound", "bans")
	if code != 0 || !strings.Contains(cli, "127.0.0.91") || !strings.Contains(cli, "pregreet") {
		t.Fatalf("inbound bans (%d):\n%s", code, cli)
	}
	if cli, code := a.adminCLI("inbound", "unban", "127.0.0.91"); code != 0 {
		t.Fatalf("inbound unban (%d): %s", code, cli)
	}
	out = swaks(t, mxB, "127.0.0.91", "--from", "x@elsewhere.test", "--to", "alice@shop.test", "--quit-after", "RCPT")
	wantIn(t, out, "250 ") // the banner and the session go on
	if strings.Contains(out, "421") {
		t.Fatalf("still banned after unban:\n%s", out)
	}
}

// TestInboundForwardSRS: a hosting server (a private Postfix) forwards
// mail from someone@gmail.test, DKIM-signed by gmail.test, for a
// forwarding account: it leaves with an SRS envelope sender and the
// original signature still verifying (dkimpy); the receiver's bounce to
// the SRS address comes back through the MX and reaches someone@gmail.test;
// a tampered SRS address is refused.
func TestInboundForwardSRS(t *testing.T) {
	py := pyDKIM(t)
	e, mx := newMX(t, "")
	w := e.world
	w.DNS.SetTXT("_dmarc.gmail.test", "v=DMARC1; p=reject")
	w.DNS.SetPTR("127.0.0.70", "hosting.fwd.test")
	w.DNS.SetA("hosting.fwd.test", "127.0.0.70")
	ctx := context.Background()
	if _, err := e.api().CreateAccount(ctx, api.AccountRequest{Name: "fwd", Domains: []string{"fwd.test"},
		Networks: []string{"127.0.0.70/32"}, Forwarding: true}); err != nil {
		t.Fatal(err)
	}
	pfAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	pf, err := sandbox.StartPostfix(ctx, sandbox.PostfixConfig{
		Dir: filepath.Join(t.TempDir(), "postfix"),
		Main: map[string]string{
			"relayhost":                "[127.0.0.1]:" + e.smtp[strings.LastIndexByte(e.smtp, ':')+1:],
			"smtp_bind_address":        "127.0.0.70",
			"smtpd_relay_restrictions": "permit_mynetworks, reject",
			"myhostname":               "hosting.fwd.test",
			// Mail for shop.test goes to our MX, as from any outside MTA.
			"transport_maps": "texthash:{{conf}}/transport",
		},
		Services: []string{pfAddr + " inet n - n - - smtpd"},
		Files:    map[string]string{"transport": "shop.test smtp:[127.0.0.1]:" + mx[strings.LastIndexByte(mx, ':')+1:] + "\n"},
		Listen:   pfAddr,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postfix log:\n%s", pf.Log())
		}
		pf.Stop()
	})

	orig := signAs(t, w, "gmail.test", "s1", message("someone@gmail.test", "friend@fwd.test", "forwarded"))
	if err := submit(pfAddr, "", "", "someone@gmail.test", []string{"friend@outlook.test"}, orig); err != nil {
		t.Fatalf("to the hosting server: %v", err)
	}
	got := waitMessage(t, w.Sink("outlook.test"), "forwarded")
	if !strings.HasPrefix(got.From, "SRS0=") || !strings.HasSuffix(got.From, "@srs.relay.sendpool.test") {
		t.Fatalf("forwarded with envelope sender %q, want an SRS0 address", got.From)
	}
	vs := e.pyVerify(t, py, got.Data)
	if len(vs) != 1 || !vs[0].OK || vs[0].D != "gmail.test" {
		t.Fatalf("the original signature at the receiver: %+v", vs)
	}

	// The receiver bounces to the SRS address, through our MX.
	dsn := []byte("From: Mail Delivery System <MAILER-DAEMON@outlook.test>\r\nTo: <" + got.From + ">\r\n" +
		"Subject: test bounced\r\nMessage-ID: <bounced@e2e.test>\r\nDate: " + time.Now().Format(time.RFC1123Z) +
		"\r\n\r\nfriend@outlook.test: mailbox full\r\n")
	out := swaks(t, mx, "127.0.0.33", "--helo", "mta33.sender.test", "--from", "<>", "--to", got.From, "--data", swaksMessage(t, dsn))
	wantIn(t, out, "250 2.0.0 Ok: queued as")
	back := waitMessage(t, w.Sink("gmail.test"), "bounced")
	if back.From != "" || len(back.To) != 1 || back.To[0] != "someone@gmail.test" {
		t.Fatalf("the bounce reached %v from %q, want someone@gmail.test from <>", back.To, back.From)
	}

	// A real MTA waits for the banner: Postfix's mail to a hosted domain
	// passes the gate and reaches the inbound_host.
	if err := submit(pfAddr, "", "", "someone@gmail.test", []string{"alice@shop.test"},
		signAs(t, w, "gmail.test", "s2", message("someone@gmail.test", "alice@shop.test", "via-postfix"))); err != nil {
		t.Fatalf("to the hosting server for shop.test: %v", err)
	}
	in := waitMessage(t, w.Sink("shop.test"), "via-postfix")
	if ars := ourAuthResults(in.Data); len(ars) != 1 || !strings.Contains(ars[0], "dkim=pass header.d=gmail.test") ||
		!strings.Contains(ars[0], "dmarc=pass") {
		t.Fatalf("Authentication-Results %v", ars)
	}

	local, dom, _ := strings.Cut(got.From, "@")
	tampered := local[:5] + strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return 'A'
	}, local[5:11]) + local[11:] + "@" + dom
	out = swaks(t, mx, "127.0.0.33", "--helo", "mta33.sender.test", "--from", "<>", "--to", tampered, "--data", swaksMessage(t, dsn))
	wantIn(t, out, "550 5.1.1")
}
