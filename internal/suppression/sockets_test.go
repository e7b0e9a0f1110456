package suppression_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"net/textproto"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/apiclient"
	"sendpool/internal/httpsend"
	"sendpool/internal/intake"
	"sendpool/internal/lookup"
	"sendpool/internal/queue"
	"sendpool/internal/smtpd"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/suppression"
	"sendpool/internal/suppression/suppressiontest"
	"sendpool/internal/testclock"
)

// flaky is a store whose lookups fail while fail is set.
type flaky struct {
	suppression.Store
	fail atomic.Bool
}

func (f *flaky) GetSuppression(ctx context.Context, account, address string) (*suppression.Entry, error) {
	if f.fail.Load() {
		return nil, errors.New("server selection error: context deadline exceeded")
	}
	return f.Store.GetSuppression(ctx, account, address)
}

// syncBuffer is a log the server's goroutines write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRefusedOverSMTPAndHTTP: over real sockets, the submission server and
// POST /api/v1/send with intake's suppression check in front of a real
// SQLite store, through the node's cache. shop1's suppressed recipient is
// refused at RCPT (550 5.1.1, naming date and reply) while the message
// goes to its other recipients; over HTTP the message is refused (422).
// shop2 sends to the same address. A removal, and a new entry, through the
// node's cache apply to the next RCPT; a store that cannot answer lets
// the recipient through and says so in the log.
func TestRefusedOverSMTPAndHTTP(t *testing.T) {
	clock := testclock.New()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "q.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, name := range []string{"shop1", "shop2"} {
		hash, err := account.HashPassword("pw")
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateAccount(t.Context(), &account.Account{Name: name, PasswordHash: hash,
			Domains: []string{name + ".test"}, Status: account.StatusActive}); err != nil {
			t.Fatal(err)
		}
	}
	bob := suppressiontest.Entry("shop1", "bob@gmail.test", clock.Now().Add(-time.Hour))
	if err := st.PutSuppression(t.Context(), bob); err != nil {
		t.Fatal(err)
	}
	fl := &flaky{Store: st}
	lists := lookup.NewSuppressions(fl, 5*time.Second, clock.Now)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	var refused atomic.Int32
	check := suppression.NewCheck(suppression.CheckConfig{Store: lists, Now: clock.Now, Logger: logger,
		OnRefused: func() { refused.Add(1) }})
	sv := intake.New(intake.Config{Accounts: st, Queue: st, Checks: []intake.Check{check}})
	srv, err := smtpd.New(smtpd.Config{Intake: sv, Hostname: "relay.test", MaxMessageSize: 1 << 20, MaxRecipients: 10})
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

	want := "5.1.1 <bob@gmail.test>: suppressed since " + bob.Created.UTC().Format("2006-01-02") +
		` after "` + bob.Reply + `"; remove it from the suppression list to retry`
	// rcpts sends MAIL and each RCPT as acct, then the message to those
	// accepted, and returns each RCPT's reply code and text.
	rcpts := func(acct string, to ...string) (codes []int, texts []string) {
		t.Helper()
		c, err := smtp.Dial(l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(smtp.PlainAuth("", acct, "pw", "127.0.0.1")); err != nil {
			t.Fatal(err)
		}
		from := "s@" + acct + ".test"
		if err := c.Mail(from); err != nil {
			t.Fatal(err)
		}
		ok := 0
		for _, r := range to {
			err := c.Rcpt(r)
			var te *textproto.Error
			switch {
			case err == nil:
				codes, texts, ok = append(codes, 250), append(texts, ""), ok+1
			case errors.As(err, &te):
				codes, texts = append(codes, te.Code), append(texts, te.Msg)
			default:
				t.Fatal(err)
			}
		}
		if ok > 0 {
			w, err := c.Data()
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte("From: <" + from + ">\r\nSubject: hi\r\n\r\nhello\r\n"))
			if err := w.Close(); err != nil {
				t.Fatalf("DATA: %v", err)
			}
		}
		c.Quit()
		return codes, texts
	}

	codes, texts := rcpts("shop1", "alice@gmail.test", "bob@GMAIL.test", "carol@gmail.test")
	if codes[0] != 250 || codes[1] != 550 || codes[2] != 250 || texts[1] != strings.Replace(want, "bob@gmail.test", "bob@GMAIL.test", 1) {
		t.Fatalf("shop1's RCPTs: %v %q; want bob's refused with %q", codes, texts, want)
	}
	list, err := st.ListMessages(t.Context(), queue.Filter{})
	if err != nil || len(list) != 1 || list[0].Recipients != 2 {
		t.Fatalf("queued %+v, %v; want one message to alice and carol", list, err)
	}
	if codes, _ := rcpts("shop2", "bob@gmail.test"); codes[0] != 250 {
		t.Fatalf("shop2's RCPT of bob: %v, want 250", codes)
	}

	client := apiclient.New(h.URL, "")
	send := func(to ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := client.Send(ctx, "shop1", "pw", api.SendRequest{From: "s@shop1.test", To: to,
			Raw: "From: <s@shop1.test>\r\nSubject: hi\r\n\r\nhello\r\n"})
		return err
	}
	var ae *apiclient.Error
	if err := send("alice@gmail.test", "bob@gmail.test"); !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity ||
		ae.Message != "550 "+want {
		t.Fatalf("/send to alice and bob: %v; want 422 %q", err, "550 "+want)
	}
	if err := send("alice@gmail.test"); err != nil {
		t.Fatalf("/send to alice: %v", err)
	}
	if n := refused.Load(); n != 2 {
		t.Errorf("refusals counted %d, want 2", n)
	}

	// Removed through the node's cache: the next RCPT is accepted; added
	// again: refused again.
	if err := lists.DeleteSuppression(t.Context(), "shop1", "bob@gmail.test"); err != nil {
		t.Fatal(err)
	}
	if codes, _ := rcpts("shop1", "bob@gmail.test"); codes[0] != 250 {
		t.Fatalf("RCPT of bob after removal: %v, want 250", codes)
	}
	if err := lists.PutSuppression(t.Context(), bob); err != nil {
		t.Fatal(err)
	}
	if codes, _ := rcpts("shop1", "bob@gmail.test"); codes[0] != 550 {
		t.Fatalf("RCPT of bob added again: %v, want 550", codes)
	}

	// The store cannot answer (and the cached entry has expired): bob is
	// let through, and the log says why.
	fl.fail.Store(true)
	clock.Add(6 * time.Second)
	if codes, _ := rcpts("shop1", "bob@gmail.test"); codes[0] != 250 {
		t.Fatalf("RCPT of bob with the store down: %v, want 250 (fail open)", codes)
	}
	if !strings.Contains(logs.String(), "suppression: lookup failed, recipient let through") {
		t.Errorf("the log does not say the check was skipped:\n%s", logs.String())
	}
}
