package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// TestMessageAttemptTLS: each attempt carries "tls":{"version",
// "verified","policy"} (SPEC §7), "failure" when a check failed; an
// attempt that reached no server has none.
func TestMessageAttemptTLS(t *testing.T) {
	e := newEnv(t, options{token: "tok"})
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	id := putMessage(t, e, now, "acme", "a@gmail.test")
	leases, err := e.store.Lease(ctx, "test", time.Now(), time.Minute, 10)
	if err != nil || len(leases) != 1 {
		t.Fatalf("lease: %d, %v", len(leases), err)
	}
	att := queue.Attempt{Time: now, SourceIP: "127.0.0.2", MX: "mx.gmail.test", MXAddr: "127.0.1.1:25",
		Response: "mx.gmail.test does not offer STARTTLS", Verdict: "deferred", Category: "tls",
		TLS: queue.TLS{Policy: "mta-sts", Failure: "starttls-not-supported"}}
	if err := e.store.Report(ctx, &leases[0], queue.Outcome{Status: queue.StatusDeferred, Attempt: att, Next: now}); err != nil {
		t.Fatal(err)
	}
	leases, _ = e.store.Lease(ctx, "test", time.Now().Add(time.Second), time.Minute, 10)
	att.Time, att.Response, att.Verdict, att.Category = now.Add(time.Second), "250 2.0.0 ok", "delivered", ""
	att.TLS = queue.TLS{Version: "TLS 1.3", Verified: true, Policy: "mta-sts"}
	if err := e.store.Report(ctx, &leases[0], queue.Outcome{Status: queue.StatusDelivered, Attempt: att}); err != nil {
		t.Fatal(err)
	}

	code, body := e.do(t, "GET", "/api/v1/messages/"+id, "")
	wantStatus(t, "get", code, body, http.StatusOK)
	var m struct {
		Recipients []struct {
			Attempts []struct {
				TLS map[string]any `json:"tls"`
			} `json:"attempts"`
		} `json:"recipients"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	at := m.Recipients[0].Attempts
	if len(at) != 2 {
		t.Fatalf("attempts %s", body)
	}
	want := []map[string]any{
		{"version": "", "verified": false, "policy": "mta-sts", "failure": "starttls-not-supported"},
		{"version": "TLS 1.3", "verified": true, "policy": "mta-sts"},
	}
	for i, w := range want {
		if len(at[i].TLS) != len(w) {
			t.Errorf("attempt %d tls %v, want %v", i, at[i].TLS, w)
		}
		for k, v := range w {
			if at[i].TLS[k] != v {
				t.Errorf("attempt %d tls.%s = %v, want %v", i, k, at[i].TLS[k], v)
			}
		}
	}
}
