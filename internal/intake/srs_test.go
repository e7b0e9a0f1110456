package intake

import (
	"context"
	"strings"
	"testing"

	"sendpool/internal/account"
	"sendpool/internal/queue"
	"sendpool/internal/srs"
)

// TestForwardingRewritesSender: a forwarding account may relay a foreign
// envelope sender, which leaves as an SRS address; any other account is
// still refused (553), and the account's own senders are kept.
func TestForwardingRewritesSender(t *testing.T) {
	f := newFixture(t)
	rw, err := srs.New(srs.Config{Domain: "srs.relay.test", Secrets: []string{"a secret of sixteen"}, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.svc.cfg.SRS = rw
	f.accounts.set(account.Account{Name: "fwd", Domains: []string{"fwd.test"}, Forwarding: true, Status: account.StatusActive})
	plain := &account.Account{Name: "acme", Domains: []string{"acme.test"}}
	wantCode(t, f.svc.CheckSender(plain, "someone@gmail.test"), 553, "5.7.1")

	fwd, _ := f.accounts.GetAccount(context.Background(), "fwd")
	if err := f.svc.CheckSender(fwd, "someone@gmail.test"); err != nil {
		t.Fatalf("CheckSender of a forwarding account: %v", err)
	}
	msg := "From: <someone@fwd.test>\r\nTo: <x@gmail.test>\r\nSubject: fwd\r\n\r\nhi\r\n"
	for _, c := range []struct{ from, want string }{
		{"someone@gmail.test", "SRS0="},
		{"me@fwd.test", "me@fwd.test"},
		{"", ""},
	} {
		id, err := f.svc.Accept(context.Background(), &Submission{Account: fwd, From: c.from, To: []string{"x@gmail.test"}, Body: []byte(msg)})
		if err != nil {
			t.Fatalf("Accept from %q: %v", c.from, err)
		}
		var m *queue.Message
		f.queue.mu.Lock()
		for _, x := range f.queue.msgs {
			if x.ID == id {
				m = x
			}
		}
		f.queue.mu.Unlock()
		if c.want == "" && m.From != "" || c.want != "" && !strings.HasPrefix(m.From, c.want) {
			t.Fatalf("queued from %q, want %q…", m.From, c.want)
		}
		if c.want == "SRS0=" {
			if back, err := rw.Reverse(m.From); err != nil || back != c.from {
				t.Fatalf("the SRS sender %s reverses to %s, %v", m.From, back, err)
			}
		}
	}
}
