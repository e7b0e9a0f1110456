package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"sendpool/internal/api"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/testclock"
)

// env is an API server on a loopback socket over a real SQLite store.
type env struct {
	srv   *httptest.Server
	store *sqlite.Store
	reg   *prometheus.Registry
	token string
}

type options struct {
	token   string // "": defaultToken, unless noToken
	noToken bool   // run with no admin token configured
	ips     api.IPSource
	send    api.SendFunc
}

const defaultToken = "test-admin-token"

func newEnv(t *testing.T, o options) *env {
	t.Helper()
	if o.token == "" && !o.noToken {
		o.token = defaultToken
	}
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "sendpool.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	h := api.New(api.Config{
		Queue:    st,
		Accounts: st,
		IPs:      o.ips,
		Token:    o.token,
		Gatherer: reg,
		Send:     o.send,
		Logger:   slog.New(slog.NewTextHandler(testLog{t}, nil)),
	})
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return &env{srv: srv, store: st, reg: reg, token: o.token}
}

// do sends a raw request with the env's token (if any) and returns the status
// and body.
func (e *env) do(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	return e.doAuth(t, method, path, body, "Bearer "+e.token)
}

// doAuth sends a raw request with the given Authorization header ("" or
// "Bearer " for none).
func (e *env) doAuth(t *testing.T, method, path, body, auth string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" && auth != "Bearer " {
		req.Header.Set("Authorization", auth)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// wantStatus checks an answer's status and, for errors, that the body is
// {"error": "…"} with a text.
func wantStatus(t *testing.T, what string, code int, body []byte, want int) {
	t.Helper()
	if code != want {
		t.Fatalf("%s: status %d, want %d; body %s", what, code, want, body)
	}
	if code >= 400 {
		var eb map[string]any
		if err := json.Unmarshal(body, &eb); err != nil || len(eb) != 1 || eb["error"] == "" || eb["error"] == nil {
			t.Fatalf("%s: error body %s, want {\"error\": \"…\"}", what, body)
		}
	}
}

// keys returns the sorted keys of a JSON object.
func keys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object: %s", raw)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// fakeIPs is a pool's view for the API: a list, plus suspend and resume.
type fakeIPs struct {
	mu  sync.Mutex
	ips []api.IPStatus
	now time.Time
}

func (f *fakeIPs) IPs(ctx context.Context) []api.IPStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ips)
}

func (f *fakeIPs) Suspend(ctx context.Context, addr string, d time.Duration, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d == 0 {
		d = time.Hour // the pool's default
	}
	for i := range f.ips {
		if f.ips[i].Address == addr {
			until := f.now.Add(d)
			f.ips[i].Status, f.ips[i].Scope, f.ips[i].SuspendedUntil, f.ips[i].Reason = api.IPSuspended, "pool", &until, reason
		}
	}
	return nil
}

func (f *fakeIPs) Resume(ctx context.Context, addr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.ips {
		if f.ips[i].Address == addr {
			f.ips[i].Status, f.ips[i].Scope, f.ips[i].SuspendedUntil, f.ips[i].Reason = api.IPActive, "", nil, ""
		}
	}
	return nil
}

func newFakeIPs() *fakeIPs {
	return &fakeIPs{
		now: testclock.New().Now(),
		ips: []api.IPStatus{
			{Address: "127.0.0.2", EHLO: "mta1.sendpool.test", Weight: 1, Status: api.IPActive},
			{Address: "127.0.0.3", EHLO: "mta2.sendpool.test", Weight: 2, Status: api.IPActive},
		},
	}
}

// listOnly is an IPSource without IPAdmin.
type listOnly struct{ f *fakeIPs }

func (l listOnly) IPs(ctx context.Context) []api.IPStatus { return l.f.IPs(ctx) }

// testLog sends the server's log to the test's.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}
