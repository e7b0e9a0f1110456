package e2e

import (
	"context"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
)

// sendIn sends one message in an open, authenticated session and returns
// the reply to the end of DATA.
func sendIn(c *smtp.Client, from, to string, body []byte) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	return w.Close()
}

// TestIntakeLookupCacheWriteThrough: with the node's lookup cache holding
// the account for an hour, a suspension, a password change and a limit
// change made through the node's API apply to the very next SMTP
// submission, over a session opened before the change and over new ones:
// the API's writes forget the cached account, nothing waits for the TTL.
func TestIntakeLookupCacheWriteThrough(t *testing.T) {
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, "")
	cfg := readFile(t, e.config)
	writeFile(t, e.config, strings.Replace(cfg, "[server]\n", "[server]\nlookup_cache_ttl = \"1h\"\n", 1))
	e.serve()
	e.addAccount("shop1", "pw-long-enough", "shop1.test")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	from, to := "s@shop1.test", "u@gmail.test"

	// An open session, and a message through it and through a new one:
	// the account is read (and cached) at AUTH and at acceptance.
	c, err := smtp.Dial(e.smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.e2e.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "shop1", "pw-long-enough", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := sendIn(c, from, to, message(from, to, "first")); err != nil {
		t.Fatalf("first message: %v", err)
	}
	if err := submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, message(from, to, "second")); err != nil {
		t.Fatalf("second message: %v", err)
	}

	suspended, reason := account.StatusSuspended, "abuse report"
	if _, err := e.api().UpdateAccount(ctx, "shop1", api.AccountPatch{Status: &suspended, Reason: &reason}); err != nil {
		t.Fatal(err)
	}
	wantSMTP(t, "the open session's next message after the suspension",
		sendIn(c, from, to, message(from, to, "third")), 550, "5.7.1")
	wantSMTP(t, "AUTH after the suspension",
		submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, message(from, to, "fourth")), 535, "5.7.8")

	active, pw2 := account.StatusActive, "pw2-long-enough"
	if _, err := e.api().UpdateAccount(ctx, "shop1", api.AccountPatch{Status: &active, Password: &pw2}); err != nil {
		t.Fatal(err)
	}
	wantSMTP(t, "the old password after the change",
		submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, message(from, to, "fifth")), 535, "5.7.8")
	if err := submit(e.smtp, "shop1", "pw2-long-enough", from, []string{to}, message(from, to, "sixth")); err != nil {
		t.Fatalf("the new password at once: %v", err)
	}

	// Messages are counted only against limits an account has: with a new
	// limit of one an hour, the next message is counted and the one after
	// refused (temporarily: 451, or 452 at RCPT). With the old account (no
	// limit) both would pass.
	one := 1
	if _, err := e.api().UpdateAccount(ctx, "shop1", api.AccountPatch{Limits: &api.LimitsPatch{PerHour: &one}}); err != nil {
		t.Fatal(err)
	}
	if err := submit(e.smtp, "shop1", "pw2-long-enough", from, []string{to}, message(from, to, "seventh")); err != nil {
		t.Fatalf("the first message under the new limit: %v", err)
	}
	if code, msg := smtpReply(t, submit(e.smtp, "shop1", "pw2-long-enough", from, []string{to}, message(from, to, "over"))); code != 451 && code != 452 {
		t.Fatalf("over the new per-hour limit: %d %s, want 451 or 452", code, msg)
	}

	if err := e.api().DeleteAccount(ctx, "shop1"); err != nil {
		t.Fatal(err)
	}
	wantSMTP(t, "AUTH after the deletion",
		submit(e.smtp, "shop1", "pw2-long-enough", from, []string{to}, message(from, to, "eighth")), 535, "5.7.8")
}
