package suppression

import (
	"errors"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/intake"
	"sendpool/internal/testclock"
)

// TestCheckRefusesSuppressedRecipient: the account's suppressed recipient
// gets 550 5.1.1 at RCPT and at intake, saying since when and after which
// reply; another account's message to it, and its other recipients, pass.
func TestCheckRefusesSuppressedRecipient(t *testing.T) {
	clock := testclock.New()
	st := newMemStore()
	refused := 0
	c := NewCheck(CheckConfig{Store: st, Now: clock.Now, OnRefused: func() { refused++ }})
	const reply = "550 5.1.1 The email account that you tried to reach does not exist"
	st.PutSuppression(t.Context(), &Entry{Account: "shop1", Address: "bob@gmail.test", Reason: ReasonBadMailbox,
		Reply: reply, MessageID: "0m1", Created: clock.Now(), Expires: clock.Now().Add(time.Hour)})
	shop1, shop2 := &account.Account{Name: "shop1"}, &account.Account{Name: "shop2"}

	err := c.CheckEnvelope(t.Context(), shop1, "s@shop1.test", []string{"alice@gmail.test", "bob@GMAIL.test"})
	var e *intake.Error
	if !errors.As(err, &e) {
		t.Fatalf("CheckEnvelope of a suppressed recipient: %v, want an *intake.Error", err)
	}
	want := "<bob@GMAIL.test>: suppressed since " + clock.Now().UTC().Format("2006-01-02") + ` after "` + reply +
		`"; remove it from the suppression list to retry`
	if e.Code != 550 || e.Enhanced != "5.1.1" || e.Text != want || e.Check != "suppression" || e.Temporary() {
		t.Fatalf("refusal %d %s %q (check %s), want 550 5.1.1 %q", e.Code, e.Enhanced, e.Text, e.Check, want)
	}
	if refused != 1 {
		t.Errorf("refusals counted %d, want 1", refused)
	}
	// Only the recipient being added is looked up at RCPT.
	st.gets = 0
	if err := c.CheckEnvelope(t.Context(), shop1, "s@shop1.test", []string{"bob@gmail.test", "alice@gmail.test"}); err != nil || st.gets != 1 {
		t.Errorf("CheckEnvelope adding another recipient: %v after %d lookups, want nil after 1", err, st.gets)
	}
	if err := c.CheckEnvelope(t.Context(), shop2, "s@shop2.test", []string{"bob@gmail.test"}); err != nil {
		t.Errorf("another account's recipient refused: %v", err)
	}
	// At intake (POST /api/v1/send): every recipient.
	sub := &intake.Submission{Account: shop1, From: "s@shop1.test", To: []string{"alice@gmail.test", "bob@gmail.test"}}
	if err := c.Check(t.Context(), sub); !errors.As(err, &e) || e.Code != 550 {
		t.Errorf("Check of a message with a suppressed recipient: %v", err)
	}
	sub.Account = shop2
	if err := c.Check(t.Context(), sub); err != nil {
		t.Errorf("Check of another account's message: %v", err)
	}
	// Once expired it refuses nothing.
	clock.Add(time.Hour)
	if err := c.CheckEnvelope(t.Context(), shop1, "s@shop1.test", []string{"bob@gmail.test"}); err != nil {
		t.Errorf("an expired entry refused: %v", err)
	}
}

// TestCheckFailsOpen: a lookup that fails lets the recipient through.
func TestCheckFailsOpen(t *testing.T) {
	st := newMemStore()
	st.fail = errors.New("connection refused")
	c := NewCheck(CheckConfig{Store: st})
	if err := c.CheckEnvelope(t.Context(), &account.Account{Name: "shop1"}, "", []string{"bob@gmail.test"}); err != nil {
		t.Fatalf("CheckEnvelope with the store down: %v, want nil (accept)", err)
	}
	sub := &intake.Submission{Account: &account.Account{Name: "shop1"}, To: []string{"bob@gmail.test"}}
	if err := c.Check(t.Context(), sub); err != nil {
		t.Fatalf("Check with the store down: %v, want nil (accept)", err)
	}
}

// TestRefusalText: an admin's entry names the reason; a reply too long for
// one line is cut so that the line stays within RFC 5321's 512 octets; what
// is not printable ASCII does not reach the client.
func TestRefusalText(t *testing.T) {
	created := testclock.New().Now()
	day := created.UTC().Format("2006-01-02")
	got := RefusalText("bob@gmail.test", &Entry{Reason: "customer asked", Created: created})
	if want := "<bob@gmail.test>: suppressed since " + day + ` by an admin: "customer asked"; remove it from the suppression list to retry`; got != want {
		t.Errorf("admin's entry: %q, want %q", got, want)
	}
	long := &Entry{Reply: "550-5.1.1 no such user\r\n550 5.1.1 " + strings.Repeat("é", 400), Created: created}
	got = RefusalText(strings.Repeat("x", 64)+"@"+strings.Repeat("d", 180)+".test", long)
	if n := len("550 5.1.1 " + got); n > maxReplyLine {
		t.Errorf("reply line of %d octets, over %d", n, maxReplyLine)
	}
	if !strings.Contains(got, `after "550-5.1.1 no such user 550 5.1.1 ??`) || !strings.Contains(got, `..."; remove it`) {
		t.Errorf("long reply: %q", got)
	}
	for _, r := range got {
		if r < 0x20 || r > 0x7e {
			t.Fatalf("refusal text holds %q: %q", r, got)
		}
	}
}
