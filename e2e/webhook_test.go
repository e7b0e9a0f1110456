package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/sandbox"
)

// hookRequest is one request a webhook receiver got.
type hookRequest struct {
	id, timestamp, signature string
	body                     []byte
	event                    map[string]any
}

// hookReceiver is a webhook endpoint on loopback that answers 204.
type hookReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []hookRequest
}

func newHookReceiver(t *testing.T) *hookReceiver {
	rc := &hookReceiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := hookRequest{id: r.Header.Get("webhook-id"), timestamp: r.Header.Get("webhook-timestamp"),
			signature: r.Header.Get("webhook-signature"), body: body}
		json.Unmarshal(body, &req.event)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, req)
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *hookReceiver) requests() []hookRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hookRequest(nil), rc.reqs...)
}

// find returns the first request of an event of type typ about message id.
func (rc *hookReceiver) find(typ, id string) (hookRequest, bool) {
	for _, r := range rc.requests() {
		if r.event["type"] == typ && r.event["message_id"] == id {
			return r, true
		}
	}
	return hookRequest{}, false
}

// verifyHook checks a request's webhook-signature with secret as the
// Standard Webhooks specification says a receiver does: HMAC-SHA256 keyed
// with the base64 after "whsec_", over id.timestamp.body, any of the
// space-separated v1 entries.
func verifyHook(secret string, r hookRequest) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.id + "." + r.timestamp + "." + string(r.body)))
	for _, entry := range strings.Fields(r.signature) {
		if sig, ok := strings.CutPrefix(entry, "v1,"); ok {
			if got, err := base64.StdEncoding.DecodeString(sig); err == nil && hmac.Equal(got, mac.Sum(nil)) {
				return true
			}
		}
	}
	return false
}

// TestWebhookSignedEvents: with an endpoint added by `sendpool webhook
// add`, a delivered message and a bounced one (550 5.1.1) produce signed
// webhooks at a receiver on loopback: accepted and delivered for the one,
// accepted, bounced and suppressed for the other (nothing for the DSN
// sendpool made), each verifying with the secret the command printed, each
// naming sendpool's id and the message's Message-ID. The feed serves the
// same events, and `webhook ls` shows the endpoint without its secret.
func TestWebhookSignedEvents(t *testing.T) {
	t.Parallel()
	rc := newHookReceiver(t)
	e := newEnv(t, bounceDomains, "")
	e.world.Sink("gmail.test").SetRules(sandbox.Rule{Stage: sandbox.StageRcpt, Rcpt: "nobody@gmail.test", Reply: userUnknown})
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")

	var added api.WebhookSecret
	if err := json.Unmarshal([]byte(e.cli("webhook", "add", rc.srv.URL+"/hooks", "-json")), &added); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(added.Secret, "whsec_") || added.ID == "" {
		t.Fatalf("webhook add printed %+v", added)
	}
	if out := e.cli("webhook", "ls"); !strings.Contains(out, added.ID) || strings.Contains(out, added.Secret) {
		t.Errorf("webhook ls:\n%s", out)
	}

	for _, to := range []string{"user@gmail.test", "nobody@gmail.test"} {
		local := strings.TrimSuffix(to, "@gmail.test")
		if err := submit(e.smtp, "shop1", "pw-shop1-secret", sender, []string{to}, message(sender, to, "hook-"+local)); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]string{} // Message-ID → sendpool's id
	for _, m := range e.allMessages() {
		if m.From != sender {
			continue
		}
		d, err := e.api().Message(context.Background(), m.ID)
		if err != nil || d.Intake == nil {
			t.Fatalf("message %s: %+v, %v", m.ID, d, err)
		}
		ids[d.Intake.HeaderMessageID] = m.ID
	}
	good, bad := ids["hook-user@e2e.test"], ids["hook-nobody@e2e.test"]
	if good == "" || bad == "" {
		t.Fatalf("messages by Message-ID: %v", ids)
	}
	want := []struct{ typ, id, header string }{
		{"accepted", good, "hook-user@e2e.test"}, {"delivered", good, "hook-user@e2e.test"},
		{"accepted", bad, "hook-nobody@e2e.test"}, {"bounced", bad, "hook-nobody@e2e.test"},
		{"suppressed", bad, "hook-nobody@e2e.test"},
	}
	waitFor(t, 30*time.Second, "the webhooks", func() bool {
		for _, w := range want {
			if _, ok := rc.find(w.typ, w.id); !ok {
				return false
			}
		}
		return true
	})
	e.waitDSNs(1)
	time.Sleep(500 * time.Millisecond) // the DSN's delivery, had it an event, would have come
	for _, w := range want {
		r, _ := rc.find(w.typ, w.id)
		if !verifyHook(added.Secret, r) {
			t.Errorf("%s of %s: signature %q does not verify", w.typ, w.id, r.signature)
		}
		if r.event["header_message_id"] != w.header || r.event["id"] != r.id || r.event["account"] != "shop1" {
			t.Errorf("%s event %v", w.typ, r.event)
		}
	}
	if d, _ := rc.find("delivered", good); d.event["ip"] == "" || d.event["mx"] != "mx.gmail.test" ||
		!strings.HasPrefix(d.event["reply"].(string), "250") {
		t.Errorf("delivered event %v", d.event)
	}
	if b, _ := rc.find("bounced", bad); b.event["reply"] != userUnknown {
		t.Errorf("bounced event %v", b.event)
	}
	reqs := rc.requests()
	if len(reqs) != len(want) {
		for _, r := range reqs {
			t.Logf("got %s %v", r.id, r.event)
		}
		t.Errorf("%d requests, want %d (one per event, none for the DSN)", len(reqs), len(want))
	}

	page, err := e.api().Feed(context.Background(), "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var fed []string
	for _, raw := range page.Events {
		var ev map[string]any
		json.Unmarshal(raw, &ev)
		fed = append(fed, ev["id"].(string))
	}
	var got []string
	for _, r := range reqs {
		got = append(got, r.id)
	}
	if !slices.Equal(slices.Sorted(slices.Values(fed)), slices.Sorted(slices.Values(got))) {
		t.Errorf("feed %v, receiver %v", fed, got)
	}
}
