package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account/accounttest"
	"sendpool/internal/addrpolicy"
	"sendpool/internal/api"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/testclock"
	"sendpool/internal/webhook"
)

// apiCall makes one admin request to h and decodes the answer into out.
func apiCall(t *testing.T, h http.Handler, method, path string, in, out any) int {
	t.Helper()
	var b []byte
	if in != nil {
		b, _ = json.Marshal(in)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer tok")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if out != nil && w.Code < 300 {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, w.Body)
		}
	}
	if w.Code >= 300 && !strings.Contains(w.Body.String(), `"error"`) {
		t.Errorf("%s %s: %d without a JSON error: %s", method, path, w.Code, w.Body)
	}
	if out == nil && w.Code == http.StatusBadRequest {
		t.Logf("%s %s: %s", method, path, w.Body)
	}
	return w.Code
}

// TestAPILoopbackURL: a URL on 127.0.0.1 is refused (400, saying why) when
// loopback is outside delivery.allowed_networks, and accepted (201, with a
// whsec_ secret shown once) when inside; the list never shows a secret; a
// 410 from the endpoint shows as disabled with its reason; enable and
// delete work; an account's endpoint cannot ask for pool events.
func TestAPILoopbackURL(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "q.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateAccount(context.Background(), accounttest.Account("shop1")); err != nil {
		t.Fatal(err)
	}
	handler := func(allowed ...string) http.Handler {
		var p addrpolicy.Policy
		for _, a := range allowed {
			p.Allowed = append(p.Allowed, netip.MustParsePrefix(a))
		}
		eps := webhook.NewEndpoints(st, 0)
		svc := webhook.NewService(webhook.ServiceConfig{Store: st, Endpoints: eps,
			Client: webhook.NewClient(nil, p), RotateGrace: time.Hour})
		return api.New(api.Config{Queue: st, Accounts: st, Token: "tok", Webhooks: svc})
	}
	closed, open := handler(), handler("127.0.0.0/8")
	rc := newReceiver(t)

	if code := apiCall(t, closed, "POST", "/api/v1/webhooks", api.WebhookRequest{URL: rc.url()}, nil); code != http.StatusBadRequest {
		t.Errorf("loopback URL outside allowed_networks: %d, want 400", code)
	}
	for _, bad := range []api.WebhookRequest{
		{URL: "ftp://127.0.0.1/x"},
		{URL: "http://user:pw@127.0.0.1/x"},
		{URL: "http://169.254.169.254/latest/meta-data"},
		{URL: "http://[::1]:8080/"},
		{URL: rc.url(), Events: []webhook.Type{"opened"}},
		{URL: rc.url(), Account: "shop1", Events: []webhook.Type{webhook.IPSuspended}},
	} {
		if code := apiCall(t, open, "POST", "/api/v1/webhooks", bad, nil); code != http.StatusBadRequest {
			t.Errorf("%+v: %d, want 400", bad, code)
		}
	}
	if code := apiCall(t, open, "POST", "/api/v1/webhooks", api.WebhookRequest{URL: rc.url(), Account: "nobody"}, nil); code != http.StatusNotFound {
		t.Errorf("unknown account: %d, want 404", code)
	}

	var created api.WebhookSecret
	if code := apiCall(t, open, "POST", "/api/v1/webhooks", api.WebhookRequest{URL: rc.url()}, &created); code != http.StatusCreated {
		t.Fatalf("loopback URL inside allowed_networks: %d, want 201", code)
	}
	if !strings.HasPrefix(created.Secret, "whsec_") || created.ID == "" || created.URL != rc.url() ||
		len(created.Events) != len(webhook.DefaultTypes()) {
		t.Errorf("created %+v", created)
	}
	var shop api.WebhookSecret
	apiCall(t, open, "POST", "/api/v1/webhooks", api.WebhookRequest{URL: rc.url(), Account: "shop1"}, &shop)
	for _, ty := range shop.Events {
		if ty.Global() || ty == webhook.Deferred {
			t.Errorf("an account's default events include %s", ty)
		}
	}

	var raw []map[string]any
	apiCall(t, open, "GET", "/api/v1/webhooks", nil, &raw)
	if len(raw) != 2 {
		t.Fatalf("listed %d", len(raw))
	}
	for _, w := range raw {
		for k := range w {
			if strings.Contains(k, "secret") && k != "previous_secret_expires" {
				t.Errorf("the list shows %q", k)
			}
		}
	}

	var rotated api.WebhookSecret
	if apiCall(t, open, "POST", "/api/v1/webhooks/"+created.ID+"/rotate", nil, &rotated); rotated.Secret == created.Secret ||
		rotated.PreviousSecretExpires == nil {
		t.Errorf("rotated %+v", rotated)
	}

	// A 410 from the endpoint, as the sender records it.
	if err := st.SetHealth(context.Background(), created.ID, webhook.Health{Disabled: true, DisabledAt: testclock.New().Now(),
		Reason: "410 Gone: 410 Gone"}); err != nil {
		t.Fatal(err)
	}
	var one map[string]any
	apiCall(t, open, "GET", "/api/v1/webhooks/"+created.ID, nil, &one)
	if one["disabled"] != true || one["reason"] != "410 Gone: 410 Gone" {
		t.Errorf("disabled endpoint shows %v", one)
	}
	var enabled api.Webhook
	if apiCall(t, open, "POST", "/api/v1/webhooks/"+created.ID+"/enable", nil, &enabled); enabled.Disabled || enabled.Reason != "" {
		t.Errorf("enabled %+v", enabled)
	}
	if code := apiCall(t, open, "DELETE", "/api/v1/webhooks/"+created.ID, nil, nil); code != http.StatusNoContent {
		t.Errorf("DELETE: %d", code)
	}
	for _, path := range []string{"/api/v1/webhooks/" + created.ID} {
		if code := apiCall(t, open, "GET", path, nil, nil); code != http.StatusNotFound {
			t.Errorf("GET %s after DELETE: %d", path, code)
		}
	}
	if code := apiCall(t, open, "DELETE", "/api/v1/webhooks/"+created.ID, nil, nil); code != http.StatusNotFound {
		t.Errorf("DELETE again: %d", code)
	}
}

// TestAPIFeed: the feed pages through the events in order with its cursor.
func TestAPIFeed(t *testing.T) {
	f := newFixture(t, nil)
	h := api.New(api.Config{Queue: f.store, Token: "tok", Webhooks: f.svc})
	var ids []string
	for range 5 {
		ids = append(ids, f.message("shop1", "x@shop1.test"))
	}
	var page api.FeedPage
	if code := apiCall(t, h, "GET", "/api/v1/feed?limit=3", nil, &page); code != 200 || len(page.Events) != 3 {
		t.Fatalf("first page: %d, %d events", code, len(page.Events))
	}
	var got []string
	collect := func(p api.FeedPage) {
		for _, raw := range p.Events {
			var ev webhook.Payload
			json.Unmarshal(raw, &ev)
			got = append(got, ev.MessageID)
		}
	}
	collect(page)
	var page2 api.FeedPage
	apiCall(t, h, "GET", "/api/v1/feed?after="+page.Next, nil, &page2)
	collect(page2)
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("feed %v, want %v", got, ids)
	}
	var page3 api.FeedPage
	apiCall(t, h, "GET", "/api/v1/feed?after="+page2.Next, nil, &page3)
	if len(page3.Events) != 0 || page3.Next != page2.Next {
		t.Errorf("past the end: %+v", page3)
	}
	for _, q := range []string{"after=-1", "after=x", "limit=0", "limit=1001"} {
		if code := apiCall(t, h, "GET", "/api/v1/feed?"+q, nil, nil); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
	var other api.FeedPage
	apiCall(t, h, "GET", "/api/v1/feed?account=shop2", nil, &other)
	if len(other.Events) != 0 {
		t.Errorf("shop2's feed has %d events", len(other.Events))
	}
}
