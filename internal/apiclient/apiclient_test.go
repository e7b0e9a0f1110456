package apiclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/apiclient"
	"sendpool/internal/queue"
	"sendpool/internal/store/sqlite"
)

func newServer(t *testing.T, send api.SendFunc) string {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "sendpool.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sendpool_test", Help: "test"})
	reg.MustRegister(g)
	srv := httptest.NewServer(api.New(api.Config{Queue: st, Accounts: st, Token: "tok", Gatherer: reg, Send: send}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestClient(t *testing.T) {
	ctx := context.Background()
	send := func(ctx context.Context, r *http.Request) (string, error) {
		if u, p, _ := r.BasicAuth(); u != "acme" || p != "pw-long-enough" || r.Header.Get("Authorization") == "Bearer tok" {
			return "", api.Errorf(http.StatusUnauthorized, "bad credentials")
		}
		req, err := api.ReadSendRequest(r, 1<<20)
		if err != nil {
			return "", err
		}
		return "id-for-" + req.To[0], nil
	}
	url := newServer(t, send)
	c := apiclient.New(url+"/", "tok") // a trailing slash is fine

	if err := c.Health(ctx); err != nil {
		t.Errorf("health: %v", err)
	}
	text, err := c.Metrics(ctx)
	if err != nil || !strings.Contains(text, "sendpool_test 0") {
		t.Errorf("metrics: %v\n%s", err, text)
	}

	a, err := c.CreateAccount(ctx, api.AccountRequest{Name: "acme", Password: "pw-long-enough", Domains: []string{"acme.test"},
		Limits: account.Limits{PerDay: 10}})
	if err != nil || a.Name != "acme" || a.Limits.PerDay != 10 || a.PasswordHash != "" {
		t.Fatalf("create: %+v %v", a, err)
	}
	a, err = c.CreateAccount(ctx, api.AccountRequest{Name: "acme", Password: "pw-long-enough"})
	if a != nil || apiclient.StatusOf(err) != http.StatusConflict {
		t.Errorf("create again: %+v %v", a, err)
	}
	var e *apiclient.Error
	if _, err := c.Account(ctx, "nobody"); !apiclient.IsNotFound(err) || !errors.As(err, &e) || e.Message != "no such account" {
		t.Errorf("missing account: %v", err)
	}
	list, err := c.Accounts(ctx)
	if err != nil || len(list) != 1 {
		t.Errorf("accounts: %v %v", list, err)
	}
	msgs, err := c.Messages(ctx, queue.Filter{Status: queue.StatusQueued, Account: "acme", Limit: 5, Before: "zzzz"})
	if err != nil || msgs == nil || len(msgs) != 0 {
		t.Errorf("messages: %#v %v", msgs, err)
	}

	id, err := c.Send(ctx, "acme", "pw-long-enough", api.SendRequest{From: "a@acme.test", To: []string{"b@gmail.test"}, Raw: "Subject: x\r\n\r\nhi\r\n"})
	if err != nil || id != "id-for-b@gmail.test" {
		t.Errorf("send: %q %v", id, err)
	}
	if _, err := c.Send(ctx, "acme", "wrong", api.SendRequest{To: []string{"b@gmail.test"}, Raw: "x"}); apiclient.StatusOf(err) != http.StatusUnauthorized {
		t.Errorf("send with a wrong password: %v", err)
	}

	// A wrong token is a 401 with the server's text.
	bad := apiclient.New(url, "nope")
	if _, err := bad.IPs(ctx); apiclient.StatusOf(err) != http.StatusUnauthorized || !strings.Contains(err.Error(), "admin token") {
		t.Errorf("wrong token: %v", err)
	}
}
