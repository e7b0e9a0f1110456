package limit_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"net/textproto"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/apiclient"
	"sendpool/internal/httpsend"
	"sendpool/internal/intake"
	"sendpool/internal/limit"
	"sendpool/internal/smtpd"
	"sendpool/internal/state/memory"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/testclock"
)

// TestWindowFreesOverSMTPAndHTTP: over real sockets, with the limiter on a
// fake clock, an account with per_hour = 10 gets 10 messages accepted (5 by
// SMTP, 5 by HTTP), the 11th refused 451 4.7.1 at RCPT naming the limit
// and when it frees (and 429 over HTTP), and accepted again, by both, once
// the clock passes that time; the queue holds exactly the 12 accepted.
func TestWindowFreesOverSMTPAndHTTP(t *testing.T) {
	clock := testclock.New()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "q.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hash, err := account.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAccount(t.Context(), &account.Account{Name: "shop", PasswordHash: hash,
		Domains: []string{"shop.test"}, Limits: account.Limits{PerHour: 10}, Status: account.StatusActive}); err != nil {
		t.Fatal(err)
	}
	sv := intake.New(intake.Config{Accounts: st, Queue: st,
		Checks: []intake.Check{limit.New(limit.Config{State: memory.New(clock.Now), Now: clock.Now})}})
	srv, err := smtpd.New(smtpd.Config{Intake: sv, Hostname: "relay.test"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	h := httptest.NewServer(api.New(api.Config{Queue: st, Accounts: st,
		Send: httpsend.New(httpsend.Config{Intake: sv, MaxMessageSize: 1 << 20, MaxRecipients: 10})}))
	defer h.Close()
	client := apiclient.New(h.URL, "")

	body := "From: <s@shop.test>\r\nSubject: hi\r\n\r\nhello\r\n"
	viaSMTP := func() error {
		return smtp.SendMail(l.Addr().String(), smtp.PlainAuth("", "shop", "pw", "127.0.0.1"),
			"s@shop.test", []string{"r@x.test"}, []byte(body))
	}
	viaHTTP := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := client.Send(ctx, "shop", "pw", api.SendRequest{From: "s@shop.test", To: []string{"r@x.test"}, Raw: body})
		return err
	}
	first := clock.Now()
	for i := range 10 {
		send := viaSMTP
		if i%2 == 1 {
			send = viaHTTP
		}
		if err := send(); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
		clock.Add(time.Minute)
	}
	frees := first.Add(time.Hour).Format(time.RFC3339)
	err = viaSMTP()
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 451 || te.Msg != "4.7.1 per-hour limit of 10 messages reached; frees at "+frees {
		t.Fatalf("11th over SMTP: %v", err)
	}
	var ae *apiclient.Error
	if err := viaHTTP(); !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests || !strings.Contains(ae.Message, "frees at "+frees) {
		t.Fatalf("11th over HTTP: %v", err)
	}

	clock.Add(first.Add(time.Hour + time.Minute).Sub(clock.Now())) // the first two have aged out
	if err := viaSMTP(); err != nil {
		t.Fatalf("over SMTP once the window freed: %v", err)
	}
	if err := viaHTTP(); err != nil {
		t.Fatalf("over HTTP once the window freed: %v", err)
	}
	if err := viaSMTP(); err == nil {
		t.Fatal("a third message fit where two slots freed")
	}
	counts, err := st.Counts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if counts["queued"] != 12 {
		t.Fatalf("queue holds %v, want the 12 accepted", counts)
	}
}
