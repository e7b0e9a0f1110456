package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// TestTraceShowsIntake: a message's page shows intake's verdict kept with
// it: protocol, client IP, account, TLS, the score and every rule with its
// score, each scanner's answer and the DKIM signatures; a message without
// one (a DSN) shows no intake section.
func TestTraceShowsIntake(t *testing.T) {
	e := newEnv(t, token)
	now := time.Now()
	in := &queue.Intake{Protocol: queue.ProtocolSMTP, With: "ESMTPSA", ClientIP: "192.0.2.7", Account: "shop",
		Auth: queue.AuthPassword, TLS: true, Score: 3.5,
		Rules: []queue.IntakeRule{
			{Scanner: "heuristics", Rule: "SHOUTING_SUBJECT", Score: 1.5, Detail: "subject <in> capitals"},
			{Scanner: "rspamd", Rule: "MISSING_MID", Score: 2},
		},
		Scanners: []queue.ScanVerdict{{Scanner: "heuristics", Result: queue.ScanClean, Score: 1.5},
			{Scanner: "clamd", Result: queue.ScanClean}},
		DKIM: []queue.DKIMSignature{{Domain: "shop.test", Selector: "sp1", Algorithm: "rsa-sha256"}},
	}
	for _, m := range []*queue.Message{
		{ID: "msg-in", Account: "shop", From: "a@shop.test", Recipients: []string{"x@dest.test"},
			Body: []byte("Subject: hi\r\n\r\nhi\r\n"), Created: now, Expires: now.Add(time.Hour), Intake: in},
		{ID: "msg-dsn", Recipients: []string{"a@shop.test"}, Body: []byte("Subject: dsn\r\n\r\nx\r\n"),
			Created: now, Expires: now.Add(time.Hour), Bounce: true},
	} {
		if err := e.store.Put(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	c := client(t)
	e.login(t, c)
	code, page, _ := get(t, c, e.srv.URL+"/messages/msg-in")
	if code != 200 {
		t.Fatalf("trace: %d", code)
	}
	for _, want := range []string{"<h2>Intake</h2>", "smtp <span class=\"muted\">(ESMTPSA)</span>",
		"192.0.2.7", "shop <span class=\"muted\">by password</span>", "<dt>TLS</dt><dd>yes</dd>",
		"<dt>Spam score</dt><dd>3.50</dd>", "SHOUTING_SUBJECT</td><td>1.50</td><td class=\"value\">subject &lt;in&gt; capitals",
		"rspamd</td><td class=\"mono\">MISSING_MID</td><td>2.00", "clamd <span class=\"badge clean\">clean</span>",
		"d=shop.test s=sp1 a=rsa-sha256"} {
		if !strings.Contains(page, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", page)
	}
	code, page, _ = get(t, c, e.srv.URL+"/messages/msg-dsn")
	if code != 200 || strings.Contains(page, "<h2>Intake</h2>") {
		t.Fatalf("DSN's trace: %d, intake section shown: %v", code, strings.Contains(page, "<h2>Intake</h2>"))
	}
}
