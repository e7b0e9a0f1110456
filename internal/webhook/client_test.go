package webhook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"sendpool/internal/addrpolicy"
	"sendpool/internal/webhook"
)

// flipResolver answers a host with addrs, which the test changes: DNS
// changing between registration and sending.
type flipResolver struct {
	mu    sync.Mutex
	addrs []netip.Addr
}

func (r *flipResolver) set(a ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addrs = nil
	for _, s := range a {
		r.addrs = append(r.addrs, netip.MustParseAddr(s))
	}
}

func (r *flipResolver) LookupIP(context.Context, string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addrs, nil
}

// TestRebindingRefusedAtSend: a host that resolved to a public address at
// registration and to loopback at sending is not connected to: the
// address is checked again and the dialer connects only to what it
// checked; nothing reaches the service on loopback.
func TestRebindingRefusedAtSend(t *testing.T) {
	var hit atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit.Store(true) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndexByte(srv.URL, ':'):]
	r := &flipResolver{}
	c := webhook.NewClient(r, addrpolicy.Policy{}) // loopback not allowed
	url := "http://hooks.example.test" + port + "/x"

	r.set("192.0.2.10")
	if _, err := c.CheckURL(context.Background(), url); err != nil {
		t.Fatalf("public address refused at registration: %v", err)
	}
	r.set("127.0.0.1")
	if _, err := c.CheckURL(context.Background(), url); err == nil {
		t.Error("loopback accepted at registration")
	}
	r.set("127.0.0.1", "10.1.2.3")
	if _, err := c.Post(context.Background(), url, nil, []byte("{}")); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("Post to a host now on loopback: %v, want refused", err)
	}
	if hit.Load() {
		t.Error("the loopback service was reached")
	}
}

// TestNoRedirectNoProxy: a redirect is an answer like any other (a 3xx,
// not followed), and HTTP_PROXY is ignored: the request goes where it was
// checked to go.
func TestNoRedirectNoProxy(t *testing.T) {
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Store(true) }))
	defer target.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	c := webhook.NewClient(nil, addrpolicy.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	resp, err := c.Post(context.Background(), redirect.URL, nil, []byte("{}"))
	if err != nil || resp.Status != http.StatusTemporaryRedirect {
		t.Fatalf("Post = %+v, %v; want the 307 itself", resp, err)
	}
	if followed.Load() {
		t.Error("the redirect was followed")
	}
}

// TestAnswerReadCapped: only the start of an endpoint's answer is read.
func TestAnswerReadCapped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(strings.Repeat("x", 1<<20)))
	}))
	defer srv.Close()
	c := webhook.NewClient(nil, addrpolicy.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	resp, err := c.Post(context.Background(), srv.URL, nil, []byte("{}"))
	if err != nil || resp.Status != 500 || len(resp.Snippet) > 1024 {
		t.Fatalf("Post = status %d, %d bytes kept, %v", resp.Status, len(resp.Snippet), err)
	}
}
