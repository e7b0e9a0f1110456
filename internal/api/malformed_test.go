package api_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/httpsend"
	"sendpool/internal/intake"
	"sendpool/internal/queue"
)

// TestMalformedCalls: every malformed call, on the admin routes and on
// /api/v1/send, answers its 4xx with {"error": "…"} (SPEC §5), never a 500
// or a dropped connection, and changes nothing: no message stored, no
// account created or changed.
func TestMalformedCalls(t *testing.T) {
	var send api.SendFunc
	e := newEnv(t, options{token: "admintoken", ips: newFakeIPs(),
		send: func(ctx context.Context, r *http.Request) (string, error) { return send(ctx, r) }})
	ctx := context.Background()
	hash, err := account.HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateAccount(ctx, &account.Account{Name: "acme", PasswordHash: hash,
		Domains: []string{"acme.test"}, Status: account.StatusActive}); err != nil {
		t.Fatal(err)
	}
	send = httpsend.New(httpsend.Config{Intake: intake.New(intake.Config{Accounts: e.store, Queue: e.store}),
		MaxMessageSize: 1 << 10, MaxRecipients: 2})
	accountsBefore, err := e.store.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}

	const (
		admin = "Bearer admintoken"
		ok    = `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"From: a@acme.test\r\nSubject: x\r\n\r\nx\r\n"}`
	)
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	acme := basic("acme", "secret")
	huge := `{"name":"` + strings.Repeat("a", 2<<20) + `","password":"long-enough-pw"}`
	tests := []struct {
		name, method, path, body, auth string
		want                           int
	}{
		// Admin token.
		{"no token", "GET", "/api/v1/accounts", "", "", 401},
		{"wrong token", "GET", "/api/v1/accounts", "", "Bearer nope", 401},
		{"token as Basic", "GET", "/api/v1/accounts", "", basic("admin", "admintoken"), 401},
		{"account password as token", "POST", "/api/v1/accounts", `{"name":"x","password":"long-enough-pw"}`, acme, 401},
		{"no token, unknown route", "GET", "/api/v1/nothing", "", "", 401},
		{"no token, bad id", "DELETE", "/api/v1/messages/..%2F..%2Fetc%2Fpasswd", "", "", 401},
		// Bodies of the admin routes.
		{"bad JSON", "POST", "/api/v1/accounts", `{"name":`, admin, 400},
		{"empty body", "POST", "/api/v1/accounts", ``, admin, 400},
		{"null", "POST", "/api/v1/accounts", `null`, admin, 400},
		{"array", "POST", "/api/v1/accounts", `[{"name":"x","password":"long-enough-pw"}]`, admin, 400},
		{"wrong type name", "POST", "/api/v1/accounts", `{"name":5,"password":"long-enough-pw"}`, admin, 400},
		{"wrong type limits", "POST", "/api/v1/accounts", `{"name":"x","password":"long-enough-pw","limits":"many"}`, admin, 400},
		{"wrong type domains", "POST", "/api/v1/accounts", `{"name":"x","password":"long-enough-pw","domains":"x.test"}`, admin, 400},
		{"unknown field", "POST", "/api/v1/accounts", `{"name":"x","password":"long-enough-pw","admin":true}`, admin, 400},
		{"trailing data", "POST", "/api/v1/accounts", `{"name":"x","password":"long-enough-pw"} {}`, admin, 400},
		{"huge body", "POST", "/api/v1/accounts", huge, admin, 413},
		{"name traversal", "POST", "/api/v1/accounts", `{"name":"../../etc/passwd","password":"long-enough-pw"}`, admin, 400},
		{"name NUL", "POST", "/api/v1/accounts", `{"name":"x\u0000y","password":"long-enough-pw"}`, admin, 400},
		{"bad network", "POST", "/api/v1/accounts", `{"name":"x","networks":["10.0.0.0/33"]}`, admin, 400},
		{"bad domain", "POST", "/api/v1/accounts", `{"name":"x","password":"long-enough-pw","domains":["a b.test"]}`, admin, 400},
		{"duplicate", "POST", "/api/v1/accounts", `{"name":"acme","password":"long-enough-pw"}`, admin, 409},
		{"patch wrong type", "PATCH", "/api/v1/accounts/acme", `{"password":5}`, admin, 400},
		{"patch bad status", "PATCH", "/api/v1/accounts/acme", `{"status":"deleted"}`, admin, 400},
		{"patch negative limit", "PATCH", "/api/v1/accounts/acme", `{"limits":{"per_minute":-1}}`, admin, 400},
		{"patch unknown field", "PATCH", "/api/v1/accounts/acme", `{"name":"root"}`, admin, 400},
		{"patch empty", "PATCH", "/api/v1/accounts/acme", ``, admin, 400},
		{"suspend bad duration", "POST", "/api/v1/ips/127.0.0.2/suspend", `{"duration":"forever"}`, admin, 400},
		{"suspend wrong type", "POST", "/api/v1/ips/127.0.0.2/suspend", `{"duration":3600}`, admin, 400},
		{"suspend negative", "POST", "/api/v1/ips/127.0.0.2/suspend", `{"duration":"-1h"}`, admin, 400},
		// Bad ids and names in paths.
		{"message traversal", "GET", "/api/v1/messages/..%2F..%2Fetc%2Fpasswd", "", admin, 404},
		{"message NUL", "GET", "/api/v1/messages/%00", "", admin, 404},
		{"message NUL inside", "POST", "/api/v1/messages/a%00b/retry", "", admin, 404},
		// Unclean paths get the mux's 307 to the clean path (the client
		// here follows it), which answers as any other.
		{"message dots", "DELETE", "/api/v1/messages/..", "", admin, 404},
		{"raw traversal", "DELETE", "/api/v1/messages/../../etc/passwd", "", admin, 404},
		{"raw traversal, no token", "DELETE", "/api/v1/messages/../../etc/passwd", "", "", 401},
		{"encoded dots", "DELETE", "/api/v1/messages/%2e%2e/x", "", admin, 404},
		{"message long id", "POST", "/api/v1/messages/" + strings.Repeat("z", 5000) + "/hold", "", admin, 404},
		{"message quote", "DELETE", "/api/v1/messages/x'%20OR%20'1'='1", "", admin, 404},
		{"account traversal", "DELETE", "/api/v1/accounts/..%2F..%2Facme", "", admin, 404},
		{"account NUL", "PATCH", "/api/v1/accounts/acme%00", `{"status":"suspended"}`, admin, 404},
		{"ip traversal", "POST", "/api/v1/ips/..%2F127.0.0.2/suspend", `{}`, admin, 404},
		{"ip not in pool", "POST", "/api/v1/ips/999.0.0.1/resume", "", admin, 404},
		{"bad status filter", "GET", "/api/v1/messages?status=lost", "", admin, 400},
		{"bad limit", "GET", "/api/v1/messages?limit=-1", "", admin, 400},
		{"bad limit type", "GET", "/api/v1/messages?limit=1e9", "", admin, 400},
		// Wrong methods: a known path answers 405 with Allow (RFC 9110
		// §15.5.6; methods_test.go checks the header), an unknown one 404.
		// On admin paths the token is checked first: without a valid one
		// the answer is the 401 every admin route gives.
		{"PUT accounts", "PUT", "/api/v1/accounts", `{"name":"x","password":"long-enough-pw"}`, admin, 405},
		{"PUT accounts, no token", "PUT", "/api/v1/accounts", `{"name":"x","password":"long-enough-pw"}`, "", 401},
		{"PUT accounts, wrong token", "PUT", "/api/v1/accounts", `{"name":"x","password":"long-enough-pw"}`, "Bearer nope", 401},
		{"POST account", "POST", "/api/v1/accounts/acme", `{"status":"suspended"}`, admin, 405},
		{"DELETE messages", "DELETE", "/api/v1/messages", "", admin, 405},
		{"PATCH ips", "PATCH", "/api/v1/ips", "{}", admin, 405},
		{"PATCH ips, no token", "PATCH", "/api/v1/ips", "{}", "", 401},
		{"GET retry", "GET", "/api/v1/messages/x/retry", "", admin, 405},
		{"PUT queue stats", "PUT", "/api/v1/queue/stats", "{}", admin, 405},
		{"OPTIONS events", "OPTIONS", "/api/v1/events", "", admin, 405},
		{"unknown route", "GET", "/api/v1/nothing", "", admin, 404},
		{"unknown route, POST", "POST", "/api/v1/nothing", "{}", admin, 404},
		{"unknown version", "GET", "/api/v2/accounts", "", admin, 404},
		// /api/v1/send needs no admin token, so its 405 needs none either.
		{"GET send", "GET", "/api/v1/send", "", acme, 405},
		{"GET send, no credentials", "GET", "/api/v1/send", "", "", 405},
		{"PUT send with token", "PUT", "/api/v1/send", ok, admin, 405},
		// /api/v1/send: credentials.
		{"send no credentials", "POST", "/api/v1/send", ok, "", 401},
		{"send wrong password", "POST", "/api/v1/send", ok, basic("acme", "wrong"), 401},
		{"send unknown account", "POST", "/api/v1/send", ok, basic("nobody", "secret"), 401},
		{"send admin token", "POST", "/api/v1/send", ok, admin, 401},
		{"send bad Basic", "POST", "/api/v1/send", ok, "Basic !!!", 401},
		// /api/v1/send: bodies.
		{"send bad JSON", "POST", "/api/v1/send", `{"from":`, acme, 400},
		{"send empty", "POST", "/api/v1/send", ``, acme, 400},
		{"send null", "POST", "/api/v1/send", `null`, acme, 400},
		{"send to string", "POST", "/api/v1/send", `{"from":"a@acme.test","to":"b@gmail.test","raw":"x"}`, acme, 400},
		{"send raw number", "POST", "/api/v1/send", `{"from":"a@acme.test","to":["b@gmail.test"],"raw":5}`, acme, 400},
		{"send unknown field", "POST", "/api/v1/send", `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"x","bcc":[]}`, acme, 400},
		{"send trailing", "POST", "/api/v1/send", ok + `{}`, acme, 400},
		{"send no to", "POST", "/api/v1/send", `{"from":"a@acme.test","raw":"x"}`, acme, 400},
		{"send no raw", "POST", "/api/v1/send", `{"from":"a@acme.test","to":["b@gmail.test"]}`, acme, 400},
		{"send bad to", "POST", "/api/v1/send", `{"from":"a@acme.test","to":["b@gmail.test\r\nRCPT TO:<c@x.test>"],"raw":"x"}`, acme, 400},
		{"send empty to", "POST", "/api/v1/send", `{"from":"a@acme.test","to":[""],"raw":"x"}`, acme, 400},
		{"send bad from", "POST", "/api/v1/send", `{"from":"a@acme.test>","to":["b@gmail.test"],"raw":"x"}`, acme, 400},
		{"send foreign from", "POST", "/api/v1/send", `{"from":"a@other.test","to":["b@gmail.test"],"raw":"x"}`, acme, 403},
		{"send too many to", "POST", "/api/v1/send", `{"from":"a@acme.test","to":["b@g.test","c@g.test","d@g.test"],"raw":"x"}`, acme, 400},
		{"send raw too big", "POST", "/api/v1/send", `{"from":"a@acme.test","to":["b@gmail.test"],"raw":"` + strings.Repeat("x", 2<<10) + `"}`, acme, 413},
		{"send huge body", "POST", "/api/v1/send", huge, acme, 413},
		{"send from with CRLF", "POST", "/api/v1/send", `{"from":"a@acme.test\r\nRCPT TO:<c@x.test>","to":["b@gmail.test"],"raw":"x"}`, acme, 400},
		{"send address literal", "POST", "/api/v1/send", `{"from":"a@acme.test","to":["b@[127.0.0.1]"],"raw":"x"}`, acme, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.doAuth(t, tc.method, tc.path, tc.body, tc.auth)
			wantStatus(t, tc.method+" "+tc.path, code, body, tc.want)
			if list, err := e.store.ListMessages(ctx, queue.Filter{}); err != nil || len(list) != 0 {
				t.Fatalf("refused, yet messages stored: %v %v", list, err)
			}
			after, err := e.store.ListAccounts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(after, accountsBefore) {
				t.Fatalf("refused, yet accounts changed: %+v", after)
			}
		})
	}

	// The same server accepts a well-formed submission: the refusals above
	// were the calls', not a broken setup's.
	code, body := e.doAuth(t, "POST", "/api/v1/send", ok, acme)
	wantStatus(t, "well-formed send", code, body, 200)
}
