package httpsend_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/httpsend"
	"sendpool/internal/intake"
	"sendpool/internal/queue"
	"sendpool/internal/store/sqlite"
)

// sendEnv is the API with HTTP submission on a loopback socket, over a real
// SQLite store holding account "acme" (password "secret", acme.test).
type sendEnv struct {
	url   string
	store *sqlite.Store
}

// Limits of newSendEnv's submission.
const (
	fuzzMaxSize  = 4 << 10
	fuzzMaxRcpts = 3
)

func newSendEnv(tb testing.TB) *sendEnv {
	tb.Helper()
	st, err := sqlite.Open(filepath.Join(tb.TempDir(), "q.db"), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	hash, err := account.HashPassword("secret")
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.CreateAccount(context.Background(), &account.Account{Name: "acme", PasswordHash: hash,
		Domains: []string{"acme.test"}, Status: account.StatusActive}); err != nil {
		tb.Fatal(err)
	}
	in := intake.New(intake.Config{Accounts: st, Queue: st})
	h := api.New(api.Config{Queue: st, Accounts: st, Token: "admintoken", Send: httpsend.New(httpsend.Config{
		Intake: in, MaxMessageSize: fuzzMaxSize, MaxRecipients: fuzzMaxRcpts})})
	srv := httptest.NewServer(h) // on 127.0.0.1
	tb.Cleanup(srv.Close)
	return &sendEnv{url: srv.URL, store: st}
}

// Authorization headers FuzzSend's first byte chooses among.
var fuzzAuths = []string{
	"Basic " + base64.StdEncoding.EncodeToString([]byte("acme:secret")),
	"",
	"Basic " + base64.StdEncoding.EncodeToString([]byte("acme:wrong")),
	"Basic " + base64.StdEncoding.EncodeToString([]byte("nobody:secret")),
	"Basic !!!notbase64",
	"Basic " + base64.StdEncoding.EncodeToString([]byte("acme")),
	"Bearer admintoken",
	"Basic " + base64.StdEncoding.EncodeToString([]byte("acme:secret\x00")),
}

// FuzzSend posts arbitrary bodies to /api/v1/send with one of fuzzAuths
// and checks SPEC §5: a refusal is a 4xx with {"error": "…"} and stores
// nothing; never a 500 or a broken connection (a panic); an acceptance is
// 200 {"id"} for acme's right password only, and the store then holds
// exactly that message, for exactly the recipients of the body's "to",
// with CRLF line endings only.
func FuzzSend(f *testing.F) {
	for _, s := range []struct {
		auth byte
		body string
	}{
		{0, `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"Subject: hi\r\n\r\nhello\r\n"}`},
		{0, `{"from":"a@acme.test","to":["b@gmail.test","c@yahoo.test"],"raw":"Subject: hi\n\nbare LF\n.\nsmuggled\r.\r"}`},
		{0, `{"from":"","to":["b@gmail.test"],"raw":"x"}`},
		{1, `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"x"}`},
		{2, `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"x"}`},
		{3, `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"x"}`},
		{4, `{}`}, {5, `{}`}, {6, `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"x"}`}, {7, `{}`},
		{0, ``}, {0, `null`}, {0, `[]`}, {0, `"x"`}, {0, `{`}, {0, `{"from":1}`}, {0, `{"to":"b@gmail.test"}`},
		{0, `{"to":[1,2]}`}, {0, `{"raw":null,"to":null}`}, {0, `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"x","cc":[]}`},
		{0, `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"x"} trailing`},
		{0, `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"x"}{"from":"a@acme.test"}`},
		{0, `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"x","raw":"y"}`},
		{0, `{"FROM":"a@acme.test","To":["b@gmail.test"],"Raw":"x"}`},
		{0, `{"from":"a@other.test","to":["b@gmail.test"],"raw":"x"}`},
		{0, `{"from":"a@acme.test","to":["b@gmail.test","",null],"raw":"x"}`},
		{0, `{"from":"a@acme.test","to":["<b@gmail.test>","b@gmail.test\r\nRCPT TO:<c@x.test>","\u0000@x.test"],"raw":"x"}`},
		{0, `{"from":"a@acme.test\r\nMAIL FROM:<x@y.test>","to":["b@gmail.test"],"raw":"x"}`},
		{0, `{"from":"a@acme.test","to":["1@g.test","2@g.test","3@g.test","4@g.test"],"raw":"x"}`},
		{0, `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"` + string(bytes.Repeat([]byte("\\u0041"), fuzzMaxSize+1)) + `"}`},
		{0, `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"\ud800 invalid surrogate \xff\xfe"}`},
		{0, "\xef\xbb\xbf{\"from\":\"a@acme.test\",\"to\":[\"b@gmail.test\"],\"raw\":\"bom\"}"},
		{0, `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"x",` + string(bytes.Repeat([]byte(`"a":[`), 1000)) + `}`},
		{0, `{"from":"a@acme.test","to":["ü@bücher.test"],"raw":"x"}`},
	} {
		f.Add(s.auth, []byte(s.body))
	}
	e := newSendEnv(f)
	client := &http.Client{Timeout: 20 * time.Second}
	f.Fuzz(func(t *testing.T, auth byte, body []byte) {
		authHeader := fuzzAuths[int(auth)%len(fuzzAuths)]
		req, err := http.NewRequest("POST", e.url+"/api/v1/send", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if authHeader != "" {
			req.Header.Set("Authorization", authHeader)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("no answer (a panic closes the connection): %v", err)
		}
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("answer cut short (a panic closes the connection): %v", err)
		}
		if resp.StatusCode == http.StatusOK {
			checkAccepted(t, e, auth%byte(len(fuzzAuths)) == 0, body, answer)
			return
		}
		checkRefused(t, resp, answer)
		wantStored(t, e, "", nil)
	})
}

// checkAccepted checks a 200: right credentials, {"id"}, and the store
// holding that message for the body's recipients.
func checkAccepted(t *testing.T, e *sendEnv, rightAuth bool, body, answer []byte) {
	t.Helper()
	if !rightAuth {
		t.Fatalf("accepted without acme's right password: %s", answer)
	}
	var reply map[string]any
	if err := json.Unmarshal(answer, &reply); err != nil || len(reply) != 1 {
		t.Fatalf("200 answer %s, want {\"id\": …}", answer)
	}
	id, _ := reply["id"].(string)
	if id == "" {
		t.Fatalf("200 answer %s without an id", answer)
	}
	var sent api.SendRequest
	if err := json.Unmarshal(body, &sent); err != nil {
		t.Fatalf("accepted a body encoding/json refuses (%v): %q", err, body)
	}
	wantStored(t, e, id, sent.To)
}

// checkRefused checks a refusal: a 4xx, JSON, {"error": "…"} and nothing
// else.
func checkRefused(t *testing.T, resp *http.Response, answer []byte) {
	t.Helper()
	if resp.StatusCode < 400 || resp.StatusCode > 499 {
		t.Fatalf("status %d, want 200 or a 4xx: %s", resp.StatusCode, answer)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("status %d with Content-Type %q: %s", resp.StatusCode, ct, answer)
	}
	var eb map[string]any
	if err := json.Unmarshal(answer, &eb); err != nil || len(eb) != 1 {
		t.Fatalf("status %d, body %s, want {\"error\": \"…\"}", resp.StatusCode, answer)
	}
	if msg, ok := eb["error"].(string); !ok || msg == "" {
		t.Fatalf("status %d, body %s, want {\"error\": \"…\"}", resp.StatusCode, answer)
	}
}

// wantStored checks that the store holds message id for rcpts and nothing
// else (nothing at all when id is ""), then empties it for the next input.
func wantStored(t *testing.T, e *sendEnv, id string, rcpts []string) {
	t.Helper()
	ctx := context.Background()
	list, err := e.store.ListMessages(ctx, queue.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		t.Cleanup(func() { e.store.Delete(ctx, m.ID) })
	}
	if id == "" {
		if len(list) != 0 {
			t.Fatalf("refused, yet %d message(s) stored, first %s", len(list), list[0].ID)
		}
		return
	}
	if len(list) != 1 || list[0].ID != id {
		t.Fatalf("accepted as %s, store holds %v", id, list)
	}
	d, err := e.store.GetMessage(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range d.Recipients {
		got = append(got, r.Address)
	}
	if !slices.Equal(got, rcpts) || d.Account != "acme" {
		t.Fatalf("stored for %q of %s, the request was for %q of acme", got, d.Account, rcpts)
	}
	b, err := e.store.Body(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') || c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
			t.Fatalf("stored body has a bare CR or LF at %d: %q", i, b)
		}
	}
}
