package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// TestTraceShowsTLS: the message page says how each attempt's connection
// was protected (SPEC §7): version, verified, the policy, a failed check.
func TestTraceShowsTLS(t *testing.T) {
	e := newEnv(t, token)
	ctx := context.Background()
	now := time.Now()
	if err := e.store.Put(ctx, &queue.Message{ID: "tls-1", Account: "shop", From: "a@shop.test",
		Recipients: []string{"x@dest.test", "y@dest.test"}, Body: []byte("Subject: hi\r\n\r\nhi\r\n"),
		Created: now, Expires: now.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ls, err := e.store.Lease(ctx, "test", time.Now(), time.Minute, 10)
	if err != nil || len(ls) != 2 {
		t.Fatalf("lease: %v %d", err, len(ls))
	}
	for i := range ls {
		a := queue.Attempt{Time: now, SourceIP: "127.0.0.2", MX: "mx.dest.test", MXAddr: "127.0.0.9:25"}
		o := queue.Outcome{Status: queue.StatusDelivered}
		if ls[i].Recipient == "x@dest.test" {
			a.Response, a.Verdict = "250 2.0.0 ok", "delivered"
			a.TLS = queue.TLS{Version: "TLS 1.3", Verified: true, Policy: "mta-sts"}
		} else {
			a.Response, a.Verdict, a.Category = "mx.dest.test does not offer STARTTLS", "deferred", "tls"
			a.TLS = queue.TLS{Policy: "dane", Failure: "starttls-not-supported"}
			o = queue.Outcome{Status: queue.StatusDeferred, Next: now.Add(time.Hour)}
		}
		o.Attempt = a
		if err := e.store.Report(ctx, &ls[i], o); err != nil {
			t.Fatal(err)
		}
	}
	c := client(t)
	e.login(t, c)
	code, page, _ := get(t, c, e.srv.URL+"/messages/tls-1")
	if code != 200 {
		t.Fatalf("trace: %d", code)
	}
	for _, want := range []string{"<th>TLS</th>", "TLS 1.3 · verified", "(mta-sts)", "plaintext", "(dane)",
		"starttls-not-supported"} {
		if !strings.Contains(page, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
}
