package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/queue"
)

// putMessage stores a message to rcpts and returns its id.
func putMessage(t *testing.T, e *env, created time.Time, account string, rcpts ...string) string {
	t.Helper()
	m := &queue.Message{
		ID:         queue.NewID(created),
		Account:    account,
		From:       "sender@" + account + ".test",
		Recipients: rcpts,
		Body:       []byte("Subject: hi\r\n\r\nhello\r\n"),
		Created:    created,
		Expires:    created.Add(72 * time.Hour),
	}
	if err := e.store.Put(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

func TestMessages(t *testing.T) {
	e := newEnv(t, options{token: "tok"})
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	older := putMessage(t, e, now.Add(-time.Minute), "acme", "a@gmail.test", "b@yahoo.test")
	newer := putMessage(t, e, now, "other", "c@outlook.test")

	// One attempt on the first recipient of the older message: deferred.
	leases, err := e.store.Lease(ctx, "test", time.Now(), time.Minute, 10)
	if err != nil || len(leases) != 3 {
		t.Fatalf("lease: %d, %v", len(leases), err)
	}
	i := slices.IndexFunc(leases, func(l queue.Lease) bool { return l.Recipient == "a@gmail.test" })
	att := queue.Attempt{Time: now, SourceIP: "127.0.0.2", MX: "mx.gmail.test", MXAddr: "127.0.1.1:25",
		Response: "451 4.7.1 try later", Verdict: "deferred", Duration: 120 * time.Millisecond}
	if err := e.store.Report(ctx, &leases[i], queue.Outcome{Status: queue.StatusDeferred, Attempt: att, Next: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for j := range leases {
		if j != i {
			e.store.Report(ctx, &leases[j], queue.Outcome{Status: queue.StatusQueued})
		}
	}

	code, body := e.do(t, "GET", "/api/v1/messages", "")
	wantStatus(t, "list", code, body, http.StatusOK)
	var list []queue.MessageSummary
	if err := json.Unmarshal(body, &list); err != nil || len(list) != 2 || list[0].ID != newer || list[1].ID != older {
		t.Fatalf("list: %s", body)
	}
	code, body = e.do(t, "GET", "/api/v1/messages?account=other&limit=5", "")
	wantStatus(t, "list by account", code, body, http.StatusOK)
	if err := json.Unmarshal(body, &list); err != nil || len(list) != 1 || list[0].ID != newer {
		t.Errorf("list by account: %s", body)
	}
	code, body = e.do(t, "GET", "/api/v1/messages?limit=1&before="+newer, "")
	wantStatus(t, "list before", code, body, http.StatusOK)
	if err := json.Unmarshal(body, &list); err != nil || len(list) != 1 || list[0].ID != older {
		t.Errorf("list before: %s", body)
	}
	code, body = e.do(t, "GET", "/api/v1/messages?status=bounced", "")
	wantStatus(t, "list bounced", code, body, http.StatusOK)
	if strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("no bounced messages: %s, want []", body)
	}
	for _, q := range []string{"status=lost", "limit=x", "limit=-1", "limit=100000"} {
		code, body := e.do(t, "GET", "/api/v1/messages?"+q, "")
		wantStatus(t, "list "+q, code, body, http.StatusBadRequest)
	}

	// The detail has SPEC §5's shape.
	code, body = e.do(t, "GET", "/api/v1/messages/"+older, "")
	wantStatus(t, "get", code, body, http.StatusOK)
	var raw struct {
		Recipients []struct {
			Attempts []json.RawMessage `json:"attempts"`
		} `json:"recipients"`
	}
	if err := json.Unmarshal(body, &raw); err != nil || len(raw.Recipients) != 2 || len(raw.Recipients[0].Attempts) != 1 {
		t.Fatalf("detail: %s", body)
	}
	for _, k := range []string{"id", "from", "size", "created", "status", "recipients"} {
		if !slices.Contains(keys(t, body), k) {
			t.Errorf("detail lacks %q: %s", k, body)
		}
	}
	for _, k := range []string{"time", "source_ip", "mx", "response"} {
		if !slices.Contains(keys(t, raw.Recipients[0].Attempts[0]), k) {
			t.Errorf("attempt lacks %q: %s", k, raw.Recipients[0].Attempts[0])
		}
	}
	var d queue.MessageDetail
	json.Unmarshal(body, &d)
	if d.ID != older || d.Status != queue.StatusQueued || d.Recipients[0].Address != "a@gmail.test" ||
		d.Recipients[0].Status != queue.StatusDeferred || d.Recipients[0].Attempts[0].SourceIP != "127.0.0.2" ||
		d.Recipients[0].Attempts[0].Response != "451 4.7.1 try later" || d.Recipients[1].Attempts == nil {
		t.Errorf("detail: %+v", d)
	}
	code, body = e.do(t, "GET", "/api/v1/messages/nosuchid", "")
	wantStatus(t, "get missing", code, body, http.StatusNotFound)

	// Hold, release, retry answer with the message as it now is.
	code, body = e.do(t, "POST", "/api/v1/messages/"+older+"/hold", "")
	wantStatus(t, "hold", code, body, http.StatusOK)
	if json.Unmarshal(body, &d); d.Status != queue.StatusHeld {
		t.Errorf("after hold: %s", body)
	}
	code, body = e.do(t, "GET", "/api/v1/queue/stats", "")
	wantStatus(t, "stats", code, body, http.StatusOK)
	var stats map[queue.Status]int
	json.Unmarshal(body, &stats)
	if want := map[queue.Status]int{"queued": 1, "held": 2, "deferred": 0, "delivered": 0, "bounced": 0}; !equalMaps(stats, want) {
		t.Errorf("stats %v, want %v", stats, want)
	}
	code, body = e.do(t, "POST", "/api/v1/messages/"+older+"/release", "")
	wantStatus(t, "release", code, body, http.StatusOK)
	if json.Unmarshal(body, &d); d.Status == queue.StatusHeld || d.Recipients[0].Status != queue.StatusDeferred {
		t.Errorf("after release: %s", body)
	}
	code, body = e.do(t, "POST", "/api/v1/messages/"+older+"/retry", "")
	wantStatus(t, "retry", code, body, http.StatusOK)
	if json.Unmarshal(body, &d); d.Recipients[0].NextAttempt.After(time.Now()) {
		t.Errorf("after retry the deferred recipient is not due: %s", body)
	}
	for _, a := range []string{"hold", "release", "retry"} {
		code, body := e.do(t, "POST", "/api/v1/messages/nosuchid/"+a, "")
		wantStatus(t, a+" missing", code, body, http.StatusNotFound)
	}

	code, body = e.do(t, "DELETE", "/api/v1/messages/"+older, "")
	wantStatus(t, "delete", code, body, http.StatusNoContent)
	code, body = e.do(t, "DELETE", "/api/v1/messages/"+older, "")
	wantStatus(t, "delete again", code, body, http.StatusNotFound)
	if _, err := e.store.GetMessage(ctx, older); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("deleted message: %v", err)
	}
}

func equalMaps(a, b map[queue.Status]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestIPs(t *testing.T) {
	ips := newFakeIPs()
	e := newEnv(t, options{token: "tok", ips: ips})

	code, body := e.do(t, "GET", "/api/v1/ips", "")
	wantStatus(t, "list", code, body, http.StatusOK)
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || len(raw) != 2 {
		t.Fatalf("list: %s", body)
	}
	if got, want := keys(t, raw[0]), []string{"address", "ehlo", "reason", "scope", "status", "suspended_until", "weight"}; !slices.Equal(got, want) {
		t.Errorf("IP keys %v, want %v", got, want)
	}

	code, body = e.do(t, "POST", "/api/v1/ips/127.0.0.3/suspend", `{"duration":"2h","reason":"listed at dnsbl.test"}`)
	wantStatus(t, "suspend", code, body, http.StatusOK)
	var ip api.IPStatus
	json.Unmarshal(body, &ip)
	if ip.Address != "127.0.0.3" || ip.Status != api.IPSuspended || ip.Reason != "listed at dnsbl.test" ||
		ip.SuspendedUntil == nil || !ip.SuspendedUntil.Equal(ips.now.Add(2*time.Hour)) {
		t.Errorf("suspended: %s", body)
	}
	// No body: the pool's default duration.
	code, body = e.do(t, "POST", "/api/v1/ips/127.0.0.2/suspend", "")
	wantStatus(t, "suspend default", code, body, http.StatusOK)
	json.Unmarshal(body, &ip)
	if ip.SuspendedUntil == nil || !ip.SuspendedUntil.Equal(ips.now.Add(time.Hour)) {
		t.Errorf("suspended by default: %s", body)
	}
	code, body = e.do(t, "POST", "/api/v1/ips/127.0.0.3/resume", "")
	wantStatus(t, "resume", code, body, http.StatusOK)
	json.Unmarshal(body, &ip)
	if ip.Status != api.IPActive || ip.SuspendedUntil != nil {
		t.Errorf("resumed: %s", body)
	}

	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"bad duration", "/api/v1/ips/127.0.0.2/suspend", `{"duration":"soon"}`, http.StatusBadRequest},
		{"negative duration", "/api/v1/ips/127.0.0.2/suspend", `{"duration":"-1h"}`, http.StatusBadRequest},
		{"unknown field", "/api/v1/ips/127.0.0.2/suspend", `{"for":"1h"}`, http.StatusBadRequest},
		{"unknown IP", "/api/v1/ips/127.0.0.99/suspend", `{}`, http.StatusNotFound},
		{"resume unknown IP", "/api/v1/ips/127.0.0.99/resume", ``, http.StatusNotFound},
	} {
		code, body := e.do(t, "POST", tc.path, tc.body)
		wantStatus(t, tc.name, code, body, tc.want)
	}

	// A source that cannot suspend: listing works, the actions are 501.
	e2 := newEnv(t, options{ips: listOnly{newFakeIPs()}})
	code, body = e2.do(t, "GET", "/api/v1/ips", "")
	wantStatus(t, "list-only list", code, body, http.StatusOK)
	code, body = e2.do(t, "POST", "/api/v1/ips/127.0.0.2/suspend", `{}`)
	wantStatus(t, "list-only suspend", code, body, http.StatusNotImplemented)
	// No source at all: an empty list.
	e3 := newEnv(t, options{token: "tok"})
	code, body = e3.do(t, "GET", "/api/v1/ips", "")
	if wantStatus(t, "no source", code, body, http.StatusOK); strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("no source: %s, want []", body)
	}
}

func TestSend(t *testing.T) {
	e := newEnv(t, options{token: "tok"})
	code, body := e.doAuth(t, "POST", "/api/v1/send", `{}`, "")
	wantStatus(t, "no SendFunc", code, body, http.StatusNotImplemented)

	// The SendFunc authenticates the account; the admin token is not needed.
	send := func(ctx context.Context, r *http.Request) (string, error) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "acme" || pass != "pw" {
			return "", api.Errorf(http.StatusUnauthorized, "bad credentials")
		}
		req, err := api.ReadSendRequest(r, 1<<20)
		if err != nil {
			return "", err
		}
		if req.From != "a@acme.test" || !slices.Equal(req.To, []string{"b@gmail.test"}) {
			return "", errors.New("unexpected request")
		}
		return "id-" + req.Raw[:4], nil
	}
	e = newEnv(t, options{token: "tok", send: send})
	const good = `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"Subject: x\r\n\r\nhi\r\n"}`
	code, body = e.doAuth(t, "POST", "/api/v1/send", good, "Basic YWNtZTpwdw==") // acme:pw
	wantStatus(t, "send", code, body, http.StatusOK)
	if strings.TrimSpace(string(body)) != `{
  "id": "id-Subj"
}` {
		t.Errorf("send answer: %s", body)
	}
	code, body = e.doAuth(t, "POST", "/api/v1/send", good, "Basic YWNtZTp4") // acme:x
	wantStatus(t, "send wrong password", code, body, http.StatusUnauthorized)
	code, body = e.doAuth(t, "POST", "/api/v1/send", `{"from":"a@acme.test","to":[],"raw":"x"}`, "Basic YWNtZTpwdw==")
	wantStatus(t, "send no rcpt", code, body, http.StatusBadRequest)
	code, body = e.doAuth(t, "POST", "/api/v1/send", `{"from":"a@acme.test","cc":["x"]}`, "Basic YWNtZTpwdw==")
	wantStatus(t, "send unknown field", code, body, http.StatusBadRequest)
	// Any other error is a generic 500: details stay in the log.
	code, body = e.doAuth(t, "POST", "/api/v1/send", `{"from":"z@acme.test","to":["b@gmail.test"],"raw":"xxxx"}`, "Basic YWNtZTpwdw==")
	wantStatus(t, "send failing", code, body, http.StatusInternalServerError)
	if strings.Contains(string(body), "unexpected") {
		t.Errorf("500 leaks the error: %s", body)
	}
}
