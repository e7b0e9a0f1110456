package e2e

import (
	"context"
	"net/http"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/apiclient"
	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
)

// Per-account suppression lists through the built binary: a recipient that
// bounced with 550 5.1.1 is refused at RCPT for its account's next message
// and not for another account's; other permanent or IP-block replies
// suppress nothing; the API and the CLI show and remove entries; and two
// nodes sharing FerretDB see one list.

// The senders' domains have sinks of their own: the DSNs go there.
var suppressDomains = map[string]string{"gmail.test": "127.0.0.11", "shop1.test": "127.0.0.14", "shop2.test": "127.0.0.15"}

const (
	noSuchAccount = "550 5.1.1 The email account that you tried to reach does not exist"
	spamReply     = "550 5.7.1 Message rejected as spam"
)

// rcptReply opens a session as user, says MAIL FROM:<from> and RCPT
// TO:<rcpt>, and returns the reply to RCPT (250 when accepted); no message
// is sent.
func rcptReply(t *testing.T, addr, user, pass, from, rcpt string) (int, string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.e2e.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", user, pass, "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from); err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt(rcpt)
	c.Quit()
	return smtpReply(t, err)
}

// suppressions lists account's entries through the API.
func (e *env) suppressions(account string) []api.Suppression {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := e.api().Suppressions(ctx, account)
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

// waitSuppressed waits until account's list holds rcpt and returns the
// entry.
func (e *env) waitSuppressed(account, rcpt string) api.Suppression {
	e.t.Helper()
	var got api.Suppression
	waitFor(e.t, 30*time.Second, rcpt+" on "+account+"'s suppression list", func() bool {
		for _, s := range e.suppressions(account) {
			if s.Address == rcpt {
				got = s
				return true
			}
		}
		return false
	})
	return got
}

// messageTo waits until the API lists a message from `from` to rcpt and
// returns its id.
func (e *env) messageTo(from, rcpt string) string {
	e.t.Helper()
	var id string
	waitFor(e.t, 10*time.Second, "the message to "+rcpt, func() bool {
		for _, m := range e.allMessages() {
			if m.From != from {
				continue
			}
			d, err := e.api().Message(context.Background(), m.ID)
			if err == nil && len(d.Recipients) == 1 && d.Recipients[0].Address == rcpt {
				id = m.ID
				return true
			}
		}
		return false
	})
	return id
}

// suppressedText is how the refusal of rcpt suppressed by s begins and ends.
func suppressedText(rcpt string, s api.Suppression) string {
	return "5.1.1 <" + rcpt + ">: suppressed since " + s.Created.UTC().Format(time.DateOnly) +
		` after "` + s.Reply + `"; remove it from the suppression list to retry`
}

// TestSuppressAfterBadMailbox: one node. bob@gmail.test answers 550 5.1.1;
// carol's first attempt meets a Spamhaus block of our IP (then she gets the
// message from another IP); dave's receiver calls the message spam. Only
// bob ends up on shop1's list: shop1's next message to him is refused at
// RCPT (in any case of his domain) and over POST /api/v1/send (422), with
// the date and the original reply; shop2's is not. The metrics count the
// entry and the refusals, the CLI lists it, and once removed through the
// API the next message to bob is accepted and delivered.
func TestSuppressAfterBadMailbox(t *testing.T) {
	e := newEnv(t, suppressDomains, "")
	gmail := e.world.Sink("gmail.test")
	gmail.SetRules(
		sandbox.Rule{Stage: sandbox.StageRcpt, Rcpt: "bob@gmail.test", Reply: noSuchAccount},
		sandbox.Rule{Stage: sandbox.StageRcpt, Rcpt: "carol@gmail.test", Times: 1, Reply: spamhausReply},
		sandbox.Rule{Stage: sandbox.StageRcpt, Rcpt: "dave@gmail.test", Reply: spamReply},
	)
	e.serve()
	e.addAccount("shop1", "pw1-long-enough", "shop1.test")
	e.addAccount("shop2", "pw2-long-enough", "shop2.test")
	const from = "news@shop1.test"
	for _, to := range []string{"bob@gmail.test", "carol@gmail.test", "dave@gmail.test"} {
		if err := submit(e.smtp, "shop1", "pw1-long-enough", from, []string{to}, message(from, to, strings.Split(to, "@")[0])); err != nil {
			t.Fatalf("first message to %s: %v", to, err)
		}
	}
	bobID, carolID, daveID := e.messageTo(from, "bob@gmail.test"), e.messageTo(from, "carol@gmail.test"), e.messageTo(from, "dave@gmail.test")
	e.waitStatus(bobID, queue.StatusBounced)
	e.waitStatus(carolID, queue.StatusDelivered)
	e.waitStatus(daveID, queue.StatusBounced)
	carol, err := e.api().Message(context.Background(), carolID)
	if err != nil {
		t.Fatal(err)
	}
	if at := carol.Recipients[0].Attempts; len(at) != 2 || at[0].Response != spamhausReply || at[0].Verdict != "blocked-ip" {
		t.Fatalf("carol's attempts %+v, want the Spamhaus block, then delivery", at)
	}

	s := e.waitSuppressed("shop1", "bob@gmail.test")
	if s.Reason != "bad-mailbox" || s.Reply != noSuchAccount || s.MessageID != bobID || s.Expires == nil ||
		s.Expires.Sub(s.Created) != 720*time.Hour {
		t.Fatalf("bob's entry %+v, want bad-mailbox after %q from %s for 720h", s, noSuchAccount, bobID)
	}
	onlyBob := func(when string) {
		t.Helper()
		if list := e.suppressions("shop1"); len(list) != 1 || list[0].Address != "bob@gmail.test" {
			t.Fatalf("shop1's list %s: %+v, want bob only (not the IP block, not the spam refusal)", when, list)
		}
	}
	onlyBob("once bob is on it")

	for _, rcpt := range []string{"bob@gmail.test", "bob@GMAIL.test"} {
		code, msg := rcptReply(t, e.smtp, "shop1", "pw1-long-enough", from, rcpt)
		if code != 550 || msg != suppressedText(rcpt, s) {
			t.Errorf("RCPT TO:<%s> for shop1: %d %q, want 550 %q", rcpt, code, msg, suppressedText(rcpt, s))
		}
	}
	_, err = e.httpSend("shop1", "pw1-long-enough", from, "bob@gmail.test", message(from, "bob@gmail.test", "http1"))
	wantHTTP(t, "POST /api/v1/send to bob", err, http.StatusUnprocessableEntity, "550 "+suppressedText("bob@gmail.test", s))
	for _, c := range []struct{ user, pass, from, rcpt string }{
		{"shop2", "pw2-long-enough", "news@shop2.test", "bob@gmail.test"}, // another account
		{"shop1", "pw1-long-enough", from, "carol@gmail.test"},            // an IP block
		{"shop1", "pw1-long-enough", from, "dave@gmail.test"},             // a spam refusal
	} {
		if code, msg := rcptReply(t, e.smtp, c.user, c.pass, c.from, c.rcpt); code != 250 {
			t.Errorf("RCPT TO:<%s> for %s: %d %q, want 250", c.rcpt, c.user, code, msg)
		}
	}

	onlyBob("after the RCPTs")
	if m := e.metric(`sendpool_suppressed_total{source="bounce"}`); !strings.HasSuffix(m, " 1") {
		t.Errorf("metric %q, want 1", m)
	}
	if m := e.metric("sendpool_suppression_refusals_total"); !strings.HasSuffix(m, " 3") {
		t.Errorf("metric %q, want 3 (two RCPTs, one /send)", m)
	}
	out := e.cli("account", "suppressions", "shop1")
	for _, want := range []string{"bob@gmail.test", "bad-mailbox", noSuchAccount} {
		if !strings.Contains(out, want) {
			t.Errorf("account suppressions lacks %q:\n%s", want, out)
		}
	}

	// Removed through the API: the next message is accepted, and (the
	// mailbox being back) delivered.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.api().Unsuppress(ctx, "shop1", "bob@gmail.test"); err != nil {
		t.Fatalf("Unsuppress: %v", err)
	}
	if err := e.api().Unsuppress(ctx, "shop1", "bob@gmail.test"); !apiclient.IsNotFound(err) {
		t.Errorf("Unsuppress twice: %v, want 404", err)
	}
	if list := e.suppressions("shop1"); len(list) != 0 {
		t.Errorf("shop1's list after removal: %+v", list)
	}
	gmail.SetRules()
	if err := submit(e.smtp, "shop1", "pw1-long-enough", from, []string{"bob@gmail.test"}, message(from, "bob@gmail.test", "again")); err != nil {
		t.Fatalf("message to bob after removal: %v", err)
	}
	e.waitArrived("gmail.test", "again")
}

// TestSuppressAcrossNodes: two nodes on one FerretDB database and one
// Redis. Node A alone delivers shop1's message to bob, which bounces 550
// 5.1.1; node B, started afterwards, refuses shop1's next message to bob at
// RCPT and accepts shop2's; removed through B, bob is accepted at B at
// once and at A too.
func TestSuppressAcrossNodes(t *testing.T) {
	a, b := newCluster(t, map[string]string{"gmail.test": "127.0.0.11", "shop1.test": "127.0.0.14"}, 7, "")
	gmail := a.world.Sink("gmail.test")
	gmail.SetRules(sandbox.Rule{Stage: sandbox.StageRcpt, Rcpt: "bob@gmail.test", Reply: noSuchAccount})
	a.serve()
	a.addAccount("shop1", "pw1-long-enough", "shop1.test")
	a.addAccount("shop2", "pw2-long-enough", "shop2.test")
	const from = "news@shop1.test"
	if err := submit(a.smtp, "shop1", "pw1-long-enough", from, []string{"bob@gmail.test"}, message(from, "bob@gmail.test", "m1")); err != nil {
		t.Fatal(err)
	}
	s := a.waitSuppressed("shop1", "bob@gmail.test")
	if s.Reply != noSuchAccount {
		t.Fatalf("entry %+v", s)
	}

	b.serve()
	if code, msg := rcptReply(t, b.smtp, "shop1", "pw1-long-enough", from, "bob@gmail.test"); code != 550 || msg != suppressedText("bob@gmail.test", s) {
		t.Fatalf("node B, RCPT TO:<bob@gmail.test> for shop1: %d %q, want 550 %q", code, msg, suppressedText("bob@gmail.test", s))
	}
	if code, msg := rcptReply(t, b.smtp, "shop2", "pw2-long-enough", "news@shop2.test", "bob@gmail.test"); code != 250 {
		t.Fatalf("node B, RCPT TO:<bob@gmail.test> for shop2: %d %q, want 250", code, msg)
	}
	if list := b.suppressions("shop1"); len(list) != 1 || list[0].MessageID != s.MessageID {
		t.Fatalf("node B lists %+v, want node A's entry", list)
	}

	gmail.SetRules()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.api().Unsuppress(ctx, "shop1", "bob@gmail.test"); err != nil {
		t.Fatal(err)
	}
	if code, msg := rcptReply(t, b.smtp, "shop1", "pw1-long-enough", from, "bob@gmail.test"); code != 250 {
		t.Fatalf("node B after removal: %d %q, want 250", code, msg)
	}
	// Node A never cached bob's entry (its own write forgot what it had);
	// within server.lookup_cache_ttl in any case.
	waitFor(t, 10*time.Second, "node A accepting bob again", func() bool {
		code, _ := rcptReply(t, a.smtp, "shop1", "pw1-long-enough", from, "bob@gmail.test")
		return code == 250
	})
}
