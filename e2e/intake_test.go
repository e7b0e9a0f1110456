package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/apiclient"
	"sendpool/internal/events"
	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
	"sendpool/internal/scan/scantest"
)

// smtpReply returns the code and text of an SMTP refusal ("" and 0 for
// none), failing the test on any other error.
func smtpReply(t *testing.T, err error) (int, string) {
	t.Helper()
	if err == nil {
		return 250, ""
	}
	var te *textproto.Error
	if !errors.As(err, &te) {
		t.Fatalf("not an SMTP reply: %v", err)
	}
	return te.Code, te.Msg
}

func wantSMTP(t *testing.T, what string, err error, code int, text string) {
	t.Helper()
	c, msg := smtpReply(t, err)
	if c != code || !strings.Contains(msg, text) {
		t.Fatalf("%s: got %d %q, want %d containing %q", what, c, msg, code, text)
	}
}

func wantHTTP(t *testing.T, what string, err error, status int, text string) {
	t.Helper()
	var ae *apiclient.Error
	if !errors.As(err, &ae) || ae.Status != status || !strings.Contains(ae.Message, text) {
		t.Fatalf("%s: got %v, want HTTP %d containing %q", what, err, status, text)
	}
}

func (e *env) httpSend(user, pass, from, to string, raw []byte) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return e.api().Send(ctx, user, pass, api.SendRequest{From: from, To: []string{to}, Raw: string(raw)})
}

func (e *env) intakeEvents(f events.Filter) []events.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := e.api().Events(ctx, f)
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

func hasRule(ev events.Event, name string) bool {
	for _, r := range ev.Rules {
		if r.Rule == name {
			return true
		}
	}
	return false
}

// TestIntakePerHourLimit: an account with per_hour = 10 gets 10 messages
// accepted and delivered; the 11th is refused 451 4.7.1 at RCPT, the reply
// naming the limit and when it frees, and the same through POST
// /api/v1/send (429 with the SMTP reply). (That it is accepted again once
// the window frees is shown with a fake clock over real sockets in
// internal/limit TestWindowFreesOverSMTPAndHTTP.)
func TestIntakePerHourLimit(t *testing.T) {
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, "")
	e.serve()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := e.api().CreateAccount(ctx, api.AccountRequest{Name: "shop1", Password: "pw-long-enough", Domains: []string{"shop1.test"},
		Limits: account.Limits{PerHour: 10}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		id := fmt.Sprintf("lim%02d", i)
		if err := submit(e.smtp, "shop1", "pw-long-enough", "s@shop1.test", []string{"u" + id + "@gmail.test"}, message("s@shop1.test", "u@gmail.test", id)); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	err = submit(e.smtp, "shop1", "pw-long-enough", "s@shop1.test", []string{"u11@gmail.test"}, message("s@shop1.test", "u@gmail.test", "lim11"))
	wantSMTP(t, "11th message", err, 451, "4.7.1 per-hour limit of 10 messages reached; frees at ")
	_, err = e.httpSend("shop1", "pw-long-enough", "s@shop1.test", "u12@gmail.test", message("s@shop1.test", "u@gmail.test", "lim12"))
	wantHTTP(t, "11th message over HTTP", err, http.StatusTooManyRequests, "451 4.7.1 per-hour limit of 10 messages reached")

	waitFor(t, 30*time.Second, "10 messages at the sink", func() bool { return len(e.world.Sink("gmail.test").Messages()) >= 10 })
	time.Sleep(200 * time.Millisecond)
	if n := len(e.world.Sink("gmail.test").Messages()); n != 10 {
		t.Fatalf("sink got %d messages, want 10", n)
	}
	list, err := e.api().Messages(ctx, queue.Filter{Status: queue.StatusDelivered})
	if err != nil || len(list) != 10 {
		t.Fatalf("delivered in the API: %d, %v", len(list), err)
	}
}

// TestIntakeContentChecks: GTUBE 550 5.7.1, EICAR in the body and inside a
// base64 attachment 554 5.7.1, a clean message 250, over SMTP and over
// POST /api/v1/send (422 with the same reply); the API's events show the
// rules that fired, for refused and accepted messages alike.
func TestIntakeContentChecks(t *testing.T) {
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, "")
	e.serve()
	e.addAccount("shop1", "pw-long-enough", "shop1.test")
	from, to := "s@shop1.test", "u@gmail.test"
	gtube := scantest.Message(from, to, "offer", scantest.GTUBE())
	eicar := scantest.Message(from, to, "file", string(scantest.EICAR()))
	attached := scantest.WithAttachment(from, to, "file", "report.txt", scantest.EICAR())
	clean := scantest.Message(from, to, "Your order", "Thanks for your order.")
	shouting := scantest.Message(from, to, "ORDER SHIPPED TODAY", "On its way.")

	wantSMTP(t, "GTUBE", submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, gtube), 550, "5.7.1")
	wantSMTP(t, "EICAR", submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, eicar), 554, "5.7.1")
	wantSMTP(t, "EICAR in base64", submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, attached), 554, "5.7.1")
	wantSMTP(t, "clean", submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, clean), 250, "")

	_, err := e.httpSend("shop1", "pw-long-enough", from, to, gtube)
	wantHTTP(t, "GTUBE over HTTP", err, http.StatusUnprocessableEntity, "550 5.7.1")
	_, err = e.httpSend("shop1", "pw-long-enough", from, to, attached)
	wantHTTP(t, "EICAR in base64 over HTTP", err, http.StatusUnprocessableEntity, "554 5.7.1")
	id, err := e.httpSend("shop1", "pw-long-enough", from, to, shouting)
	if err != nil {
		t.Fatalf("clean over HTTP: %v", err)
	}
	_, err = e.httpSend("shop1", "wrong", from, to, clean)
	wantHTTP(t, "wrong password over HTTP", err, http.StatusUnauthorized, "535 5.7.8")

	refused := e.intakeEvents(events.Filter{Account: "shop1", Kind: events.KindRefused})
	if len(refused) != 5 {
		t.Fatalf("refused events: %d, want 5: %+v", len(refused), refused)
	}
	// Newest first: the HTTP ones, then SMTP's EICAR ×2 and GTUBE.
	if !hasRule(refused[4], "GTUBE") || refused[4].Reply != "550 5.7.1 Message refused as spam" || refused[4].Protocol != "ESMTPA" {
		t.Errorf("GTUBE event: %+v", refused[4])
	}
	if !hasRule(refused[3], "EICAR") || !strings.HasPrefix(refused[3].Reply, "554 5.7.1") {
		t.Errorf("EICAR event: %+v", refused[3])
	}
	if !hasRule(refused[0], "EICAR") || refused[0].Protocol != "HTTP" {
		t.Errorf("EICAR over HTTP event: %+v", refused[0])
	}
	acc := e.intakeEvents(events.Filter{ID: id})
	if len(acc) != 1 || acc[0].Kind != events.KindAccepted || !hasRule(acc[0], "SHOUTING_SUBJECT") || acc[0].Score != 1.5 {
		t.Fatalf("accepted message's event: %+v", acc)
	}
	waitFor(t, 30*time.Second, "2 clean messages at the sink", func() bool { return len(e.world.Sink("gmail.test").Messages()) >= 2 })
}

// TestIntakeScanServices: the real clamd (a private one, so the test can
// stop it) finds the made-up test signature (554 5.7.1) that no heuristic
// knows; the real rspamd's rules show beside the heuristics'; once clamd is
// stopped, mail is tempfailed (451 4.7.1) with the default scan.fail.
func TestIntakeScanServices(t *testing.T) {
	clamd := scantest.StartClamd(t)
	rspamd := scantest.Service(t, "SENDPOOL_TEST_RSPAMD")
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, fmt.Sprintf("[scan]\nclamd = %q\nrspamd = %q\ntimeout = \"10s\"\n", clamd.Addr, rspamd))
	e.serve()
	e.addAccount("shop1", "pw-long-enough", "shop1.test")
	from, to := "s@shop1.test", "u@gmail.test"

	sig := scantest.WithAttachment(from, to, "tool", "data.bin", []byte("xx "+scantest.TestSignature+" xx"))
	wantSMTP(t, "test signature", submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, sig), 554, "5.7.1")
	ev := e.intakeEvents(events.Filter{Kind: events.KindRefused})
	if len(ev) != 1 || !strings.Contains(fmt.Sprint(ev[0].Rules), "Sendpool-Test-Signature") {
		t.Fatalf("clamd's finding not shown: %+v", ev)
	}
	clean := scantest.Message(from, to, "Your order", "Thanks for your order.")
	wantSMTP(t, "clean", submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, clean), 250, "")
	gtube := scantest.Message(from, to, "offer", scantest.GTUBE())
	wantSMTP(t, "GTUBE", submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, gtube), 550, "5.7.1")
	ev = e.intakeEvents(events.Filter{Kind: events.KindRefused, Limit: 1})
	var scanners []string
	for _, r := range ev[0].Rules {
		scanners = append(scanners, r.Check+":"+r.Rule)
	}
	if s := strings.Join(scanners, " "); !strings.Contains(s, "heuristics:GTUBE") || !strings.Contains(s, "rspamd:GTUBE") {
		t.Fatalf("GTUBE rules: %s", s)
	}

	clamd.Stop()
	wantSMTP(t, "clean with clamd stopped", submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, clean), 451, "4.7.1")
	_, err := e.httpSend("shop1", "pw-long-enough", from, to, clean)
	wantHTTP(t, "clean over HTTP with clamd stopped", err, http.StatusServiceUnavailable, "451 4.7.1")
}

// TestIntakeHeldAccount: an account that trips the virus threshold (5
// refusals in 10 minutes) is held: the account shows status held with the
// reason and an event; its next message gets 451 4.7.1 (SMTP) or 503
// (HTTP); its queued mail, deferred by a receiver that temp-fails, is held
// and not delivered once the receiver accepts, until an admin releases the
// account; then it is delivered and new mail is accepted again.
func TestIntakeHeldAccount(t *testing.T) {
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, `retry = ["1s"]`)
	sink := e.world.Sink("gmail.test")
	sink.SetRules(sandbox.Rule{Stage: sandbox.StageRcpt, Reply: "451 4.2.0 Try again later"})
	e.serve()
	e.addAccount("shop1", "pw-long-enough", "shop1.test")
	e.addAccount("other", "pw2-long-enough", "other.test")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	from, to := "s@shop1.test", "u@gmail.test"

	for i := range 2 {
		if err := submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, message(from, to, fmt.Sprintf("queued%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "both messages deferred", func() bool {
		list, err := e.api().Messages(ctx, queue.Filter{Account: "shop1", Status: queue.StatusDeferred})
		return err == nil && len(list) == 2
	})

	eicar := scantest.Message(from, to, "file", string(scantest.EICAR()))
	for i := range 5 {
		wantSMTP(t, fmt.Sprintf("virus %d", i+1), submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, eicar), 554, "5.7.1")
	}
	a, err := e.api().Account(ctx, "shop1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != account.StatusHeld || !strings.Contains(a.Reason, "5 virus refusals in 10m0s") {
		t.Fatalf("account after 5 viruses: %s (%s)", a.Status, a.Reason)
	}
	if ev := e.intakeEvents(events.Filter{Account: "shop1", Kind: events.KindHeld}); len(ev) != 1 || ev[0].Reason != a.Reason {
		t.Fatalf("held event: %+v", ev)
	}
	clean := message(from, to, "after-hold")
	wantSMTP(t, "next message of the held account", submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, clean), 451, "4.7.1")
	_, err = e.httpSend("shop1", "pw-long-enough", from, to, clean)
	wantHTTP(t, "next message over HTTP", err, http.StatusServiceUnavailable, "451 4.7.1")
	// Another account is not affected.
	if err := submit(e.smtp, "other", "pw2-long-enough", "s@other.test", []string{"v@gmail.test"}, message("s@other.test", "v@gmail.test", "other")); err != nil {
		t.Fatalf("other account: %v", err)
	}

	held, err := e.api().Messages(ctx, queue.Filter{Account: "shop1", Status: queue.StatusHeld})
	if err != nil || len(held) != 2 {
		t.Fatalf("held messages: %d, %v", len(held), err)
	}
	// The receiver accepts now: only the other account's message arrives,
	// although the held ones were due again every second.
	sink.SetRules()
	waitFor(t, 20*time.Second, "the other account's message", func() bool { return len(sink.Messages()) >= 1 })
	time.Sleep(2500 * time.Millisecond)
	if ids := messageIDs(sink); len(ids) != 1 || ids[0] != "other" {
		t.Fatalf("sink got %v while the account was held, want only [other]", ids)
	}

	a, err = e.api().ReleaseAccount(ctx, "shop1")
	if err != nil || a.Status != account.StatusActive || a.Reason != "" {
		t.Fatalf("release: %+v, %v", a, err)
	}
	waitFor(t, 20*time.Second, "the held messages after release", func() bool { return len(sink.Messages()) >= 3 })
	if err := submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, message(from, to, "after-release")); err != nil {
		t.Fatalf("after release: %v", err)
	}
	waitFor(t, 20*time.Second, "the message after release", func() bool { return len(sink.Messages()) >= 4 })
	got := map[string]int{}
	for _, id := range messageIDs(sink) {
		got[id]++
	}
	for _, id := range []string{"queued0", "queued1", "other", "after-release"} {
		if got[id] != 1 {
			t.Errorf("message %s arrived %d times", id, got[id])
		}
	}
	if ev := e.intakeEvents(events.Filter{Account: "shop1", Kind: events.KindReleased}); len(ev) != 1 {
		t.Fatalf("released event: %+v", ev)
	}
}

// TestIntakeSuspendedAccount: suspending an account holds its queued mail
// at once and its clients get 535 (SMTP AUTH) and 401 (HTTP); resuming it
// releases the mail, which is then delivered.
func TestIntakeSuspendedAccount(t *testing.T) {
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, `retry = ["1s"]`)
	sink := e.world.Sink("gmail.test")
	sink.SetRules(sandbox.Rule{Stage: sandbox.StageRcpt, Reply: "451 4.2.0 Try again later"})
	e.serve()
	e.addAccount("shop1", "pw-long-enough", "shop1.test")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	from, to := "s@shop1.test", "u@gmail.test"
	if err := submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, message(from, to, "waiting")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the message deferred", func() bool {
		list, err := e.api().Messages(ctx, queue.Filter{Status: queue.StatusDeferred})
		return err == nil && len(list) == 1
	})
	st := account.StatusSuspended
	reason := "unpaid invoice"
	if _, err := e.api().UpdateAccount(ctx, "shop1", api.AccountPatch{Status: &st, Reason: &reason}); err != nil {
		t.Fatal(err)
	}
	if list, err := e.api().Messages(ctx, queue.Filter{Status: queue.StatusHeld}); err != nil || len(list) != 1 {
		t.Fatalf("held right after the suspension: %d, %v", len(list), err)
	}
	wantSMTP(t, "AUTH of a suspended account", submit(e.smtp, "shop1", "pw-long-enough", from, []string{to}, message(from, to, "x")), 535, "5.7.8")
	_, err := e.httpSend("shop1", "pw-long-enough", from, to, message(from, to, "y"))
	wantHTTP(t, "HTTP send of a suspended account", err, http.StatusUnauthorized, "535 5.7.8")

	sink.SetRules()
	active := account.StatusActive
	if _, err := e.api().UpdateAccount(ctx, "shop1", api.AccountPatch{Status: &active}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the message after resume", func() bool { return len(sink.Messages()) >= 1 })
	if ids := messageIDs(sink); len(ids) != 1 || ids[0] != "waiting" {
		t.Fatalf("sink got %v", ids)
	}
}
