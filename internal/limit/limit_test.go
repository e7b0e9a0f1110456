package limit

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/intake"
	"sendpool/internal/state/memory"
	"sendpool/internal/testclock"
)

func newLimiter() (*Limiter, *testclock.Clock) {
	c := testclock.New()
	return New(Config{State: memory.New(c.Now), Now: c.Now}), c
}

func sub(a *account.Account, from string, rcpts int) *intake.Submission {
	s := &intake.Submission{Account: a, From: from}
	for i := range rcpts {
		s.To = append(s.To, "r"+string(rune('a'+i%26))+"@x.test")
	}
	return s
}

func wantRefusal(t *testing.T, err error, code int, enhanced, text string) {
	t.Helper()
	e, ok := err.(*intake.Error)
	if !ok {
		t.Fatalf("got %v, want an *intake.Error %d %s", err, code, enhanced)
	}
	if e.Code != code || e.Enhanced != enhanced || !strings.Contains(e.Text, text) || e.Check != "limit" {
		t.Fatalf("got %d %s %q (check %q), want %d %s containing %q", e.Code, e.Enhanced, e.Text, e.Check, code, enhanced, text)
	}
}

// TestPerHourExactWindow: 10 messages in an hour pass, the 11th is refused
// 451 4.7.1 naming the limit and when it frees; it fits again exactly when
// the first of the 10 is an hour old, not a moment before.
func TestPerHourExactWindow(t *testing.T) {
	l, c := newLimiter()
	a := &account.Account{Name: "shop", Limits: account.Limits{PerHour: 10}}
	first := c.Now()
	for i := range 10 {
		if err := l.Check(t.Context(), sub(a, "s@shop.test", 1)); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
		c.Add(time.Minute)
	}
	err := l.Check(t.Context(), sub(a, "s@shop.test", 1))
	wantRefusal(t, err, 451, "4.7.1", "per-hour limit of 10 messages reached; frees at "+first.Add(time.Hour).Format(time.RFC3339))
	// The early answer says the same, and counts nothing.
	for range 3 {
		wantRefusal(t, l.CheckEnvelope(t.Context(), a, "s@shop.test", []string{"r@x.test"}), 451, "4.7.1", "per-hour limit of 10 messages")
	}
	c.Set(first.Add(time.Hour - time.Millisecond))
	wantRefusal(t, l.Check(t.Context(), sub(a, "s@shop.test", 1)), 451, "4.7.1", "per-hour")
	c.Set(first.Add(time.Hour))
	if err := l.CheckEnvelope(t.Context(), a, "s@shop.test", []string{"r@x.test"}); err != nil {
		t.Fatalf("envelope once the window freed: %v", err)
	}
	if err := l.Check(t.Context(), sub(a, "s@shop.test", 1)); err != nil {
		t.Fatalf("once the window freed: %v", err)
	}
	// Only one slot freed.
	wantRefusal(t, l.Check(t.Context(), sub(a, "s@shop.test", 1)), 451, "4.7.1", "per-hour")
}

// TestEnvelopeCountsNothing: any number of early checks leave the count as
// it was.
func TestEnvelopeCountsNothing(t *testing.T) {
	l, _ := newLimiter()
	a := &account.Account{Name: "shop", Limits: account.Limits{PerMinute: 2, RcptPerMinute: 3}}
	for range 50 {
		if err := l.CheckEnvelope(t.Context(), a, "s@shop.test", []string{"a@x.test", "b@x.test"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Check(t.Context(), sub(a, "s@shop.test", 2)); err != nil {
		t.Fatal(err)
	}
	n, _ := l.st.Count(t.Context(), "limit:msg:shop", l.now(), time.Minute)
	r, _ := l.st.Count(t.Context(), "limit:rcpt:shop", l.now(), time.Minute)
	if n != 1 || r != 2 {
		t.Fatalf("counted %d messages and %d recipients, want 1 and 2", n, r)
	}
}

// TestRecipients: a recipient limit answers 452 4.5.3 at the recipient
// that does not fit; a refused message counts nothing anywhere.
func TestRecipients(t *testing.T) {
	l, c := newLimiter()
	a := &account.Account{Name: "shop", Limits: account.Limits{PerDay: 100, RcptPerHour: 5}}
	if err := l.Check(t.Context(), sub(a, "s@shop.test", 4)); err != nil {
		t.Fatal(err)
	}
	if err := l.CheckEnvelope(t.Context(), a, "s@shop.test", []string{"a@x.test"}); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, l.CheckEnvelope(t.Context(), a, "s@shop.test", []string{"a@x.test", "b@x.test"}),
		452, "4.5.3", "per-hour limit of 5 recipients reached; frees at "+c.Now().Add(time.Hour).Format(time.RFC3339))
	wantRefusal(t, l.Check(t.Context(), sub(a, "s@shop.test", 2)), 452, "4.5.3", "recipients")
	if n, _ := l.st.Count(t.Context(), "limit:msg:shop", c.Now(), time.Hour); n != 1 {
		t.Fatalf("messages counted %d, want 1: the refused message was counted", n)
	}
}

// TestPerSender: one mailbox over its own limit does not stop another of
// the same account.
func TestPerSender(t *testing.T) {
	l, _ := newLimiter()
	a := &account.Account{Name: "host", Limits: account.Limits{SenderPerHour: 2}}
	for range 2 {
		if err := l.Check(t.Context(), sub(a, "Alice@host.test", 1)); err != nil {
			t.Fatal(err)
		}
	}
	wantRefusal(t, l.Check(t.Context(), sub(a, "alice@host.test", 1)), 451, "4.7.1", "messages from alice@host.test")
	if err := l.Check(t.Context(), sub(a, "bob@host.test", 1)); err != nil {
		t.Fatalf("another sender: %v", err)
	}
}

// TestNoLimits: an account without limits is never refused and nothing is
// stored for it.
func TestNoLimits(t *testing.T) {
	l, _ := newLimiter()
	a := &account.Account{Name: "free"}
	for range 100 {
		if err := l.Check(t.Context(), sub(a, "s@free.test", 50)); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := l.st.Count(t.Context(), "limit:msg:free", l.now(), 24*time.Hour); n != 0 {
		t.Fatalf("counted %d for an account without limits", n)
	}
}

func TestUsageCountsAgainstEachLimit(t *testing.T) {
	clock := testclock.New()
	st := memory.New(clock.Now)
	l := New(Config{State: st, Now: clock.Now})
	a := &account.Account{Name: "shop", Limits: account.Limits{PerHour: 10, PerDay: 100, RcptPerDay: 500}}
	for range 3 {
		if err := l.Check(t.Context(), &intake.Submission{Account: a, From: "a@shop.test", To: []string{"x@y.test", "z@y.test"}}); err != nil {
			t.Fatal(err)
		}
	}
	us, err := l.Usage(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(us)
	want := "[{messages 1h0m0s 3 10} {messages 24h0m0s 3 100} {recipients 24h0m0s 6 500}]"
	if got != want {
		t.Fatalf("Usage = %s, want %s", got, want)
	}
}
