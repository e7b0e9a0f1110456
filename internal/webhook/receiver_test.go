package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/addrpolicy"
	"sendpool/internal/queue"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/testclock"
	"sendpool/internal/testenv"
	"sendpool/internal/webhook"
)

// receiver is a webhook endpoint on loopback: a real HTTP server that
// records every request and answers as respond says (a status, after a
// delay: a delay over the sender's timeout is a timeout).
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	reqs     []request
	inflight map[string]int // webhook-id → requests being handled
	overlap  map[string]int // webhook-id → most at once
	all, max int            // requests being handled, most at once
	respond  func(n int, r request) (int, time.Duration)
}

// request is one request the receiver got.
type request struct {
	ID, Timestamp, Signature string
	Body                     []byte
	Event                    webhook.Payload
	Status                   int // what it answered
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t, inflight: map[string]int{}, overlap: map[string]int{},
		respond: func(int, request) (int, time.Duration) { return 200, 0 }}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + "/hooks" }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := request{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"),
		Signature: r.Header.Get("webhook-signature"), Body: body}
	if err := json.Unmarshal(body, &req.Event); err != nil {
		rc.t.Errorf("request body is not an event: %v: %s", err, body)
	}
	rc.mu.Lock()
	n := len(rc.reqs)
	rc.reqs = append(rc.reqs, req) // placeholder, status filled in below
	rc.inflight[req.ID]++
	rc.overlap[req.ID] = max(rc.overlap[req.ID], rc.inflight[req.ID])
	rc.all++
	rc.max = max(rc.max, rc.all)
	respond := rc.respond
	rc.mu.Unlock()

	status, delay := respond(n, req)
	select {
	case <-time.After(delay):
	case <-r.Context().Done():
		status = 0 // the sender gave up waiting
	}
	rc.mu.Lock()
	rc.reqs[n].Status = status
	rc.inflight[req.ID]--
	rc.all--
	rc.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		io.WriteString(w, "answer "+http.StatusText(status))
	}
}

func (rc *receiver) setRespond(f func(n int, r request) (int, time.Duration)) {
	rc.mu.Lock()
	rc.respond = f
	rc.mu.Unlock()
}

// requests returns what the receiver got so far, in arrival order.
func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// delivered returns the ids of the events it answered 2xx, in order.
func (rc *receiver) delivered() []string {
	var ids []string
	seen := map[string]bool{}
	for _, r := range rc.requests() {
		if r.Status >= 200 && r.Status < 300 && !seen[r.ID] {
			seen[r.ID] = true
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// verify checks a webhook-signature header with secret the way a receiver
// following standardwebhooks.com does, written here from the
// specification and not with the package's code: the key is the base64
// after "whsec_", the signed content id.timestamp.body, each space-separated
// "v1,<base64>" entry a candidate, compared in constant time.
func verify(secret string, r request) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.ID + "." + r.Timestamp + "."))
	mac.Write(r.Body)
	want := mac.Sum(nil)
	for _, entry := range strings.Fields(r.Signature) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// TestVerifyKnownVector: the test's verifier agrees with the example of
// the Standard Webhooks reference implementations.
func TestVerifyKnownVector(t *testing.T) {
	r := request{ID: "msg_p5jXN8AQM9LWM0D4loKWxJek", Timestamp: "1614265330", Body: []byte(`{"test": 2432232314}`),
		Signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
	if !verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", r) {
		t.Fatal("the specification's example does not verify")
	}
	got := webhook.Sign([]webhook.Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, time.Now(), r.ID, 1614265330, r.Body)
	if got != r.Signature {
		t.Fatalf("Sign = %q, want %q", got, r.Signature)
	}
}

// counts is a webhook.Metrics that counts.
type counts struct {
	mu sync.Mutex
	n  tally
}

// tally is what counts counted.
type tally struct{ sent, failed, gaveUp, disabled, lost int }

func (c *counts) Sent(webhook.Type)   { c.mu.Lock(); c.n.sent++; c.mu.Unlock() }
func (c *counts) Failed(webhook.Type) { c.mu.Lock(); c.n.failed++; c.mu.Unlock() }
func (c *counts) GaveUp()             { c.mu.Lock(); c.n.gaveUp++; c.mu.Unlock() }
func (c *counts) Disabled()           { c.mu.Lock(); c.n.disabled++; c.mu.Unlock() }
func (c *counts) Lost(n int)          { c.mu.Lock(); c.n.lost += n; c.mu.Unlock() }

func (c *counts) get() tally {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// fixture is one node's webhooks over an SQLite store, its clock the test
// clock, its sender running until the test ends.
type fixture struct {
	t       *testing.T
	clock   *testclock.Clock
	store   webhookStore
	eps     *webhook.Endpoints
	client  *webhook.Client
	svc     *webhook.Service
	em      *webhook.Emitter
	sender  *webhook.Sender
	metrics *counts
}

// webhookStore is what the fixture needs of a store.
type webhookStore interface {
	webhook.Store
	webhook.Messages
	queue.Store
}

// senderConfig is the fixture's sender's: quick polls, short timeouts,
// retries one clock second apart, and claims that outlast a request
// however fast a test moves the clock.
func senderConfig() webhook.SenderConfig {
	return webhook.SenderConfig{Timeout: 300 * time.Millisecond, Concurrency: 2, LeaseFor: time.Hour,
		Poll: 20 * time.Millisecond, Retry: []time.Duration{time.Second}, RetryFor: 72 * time.Hour,
		DisableAfter: 24 * time.Hour}
}

func newFixture(t *testing.T, tune func(*webhook.SenderConfig)) *fixture {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "q.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newNode(t, testclock.New(), st, "node1", tune)
}

// newNode runs one node's webhooks over st.
func newNode(t *testing.T, clock *testclock.Clock, st webhookStore, owner string, tune func(*webhook.SenderConfig)) *fixture {
	f := &fixture{t: t, clock: clock, store: st, metrics: &counts{}}
	f.eps = webhook.NewEndpoints(st, 0)
	f.client = webhook.NewClient(nil, addrpolicy.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	f.svc = webhook.NewService(webhook.ServiceConfig{Store: st, Endpoints: f.eps, Client: f.client,
		RotateGrace: 24 * time.Hour, Now: clock.Now})
	f.em = webhook.NewEmitter(webhook.EmitterConfig{Store: st, Endpoints: f.eps, Messages: st, Now: clock.Now,
		SuppressFor: 720 * time.Hour, Metrics: f.metrics, OnAppend: func() { f.sender.Wake() }})
	cfg := senderConfig()
	cfg.Store, cfg.Endpoints, cfg.Client, cfg.Owner, cfg.Now, cfg.Metrics = st, f.eps, f.client, owner, clock.Now, f.metrics
	cfg.OnDisabled = f.em.EndpointDisabled
	if tune != nil {
		tune(&cfg)
	}
	f.sender = webhook.NewSender(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.sender.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; f.em.Close() })
	return f
}

// tick moves the clock on by step every few milliseconds until the test
// ends, so that retries come due quickly.
func (f *fixture) tick(step time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			f.clock.Add(step)
			f.sender.Wake()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	f.t.Cleanup(func() { cancel(); <-done })
}

// endpoint registers url for account's events of types (nil: defaults).
func (f *fixture) endpoint(url, account string, types ...webhook.Type) (*webhook.Endpoint, string) {
	f.t.Helper()
	e, secret, err := f.svc.Create(context.Background(), url, types, account)
	if err != nil {
		f.t.Fatalf("Create(%s): %v", url, err)
	}
	return e, secret
}

// message accepts a message of account through the emitter's queue and
// returns its id.
func (f *fixture) message(account, headerID string) string {
	f.t.Helper()
	now := f.clock.Now()
	m := &queue.Message{Account: account, From: "sender@" + account + ".test", Recipients: []string{"bob@gmail.test"},
		Body: []byte("Message-ID: <" + headerID + ">\r\n\r\nhi\r\n"), Created: now, Expires: now.Add(72 * time.Hour),
		Intake: &queue.Intake{HeaderMessageID: headerID}}
	if err := f.em.Queue(f.store).Put(context.Background(), m); err != nil {
		f.t.Fatal(err)
	}
	return m.ID
}

// outcome emits one delivery outcome of message id of account: status
// delivered, deferred or bounced, with reply.
func (f *fixture) outcome(id, account string, status queue.Status, reply string) {
	f.leaseOutcome(&queue.Lease{Delivery: queue.Delivery{ID: id + "/0", MessageID: id, Recipient: "bob@gmail.test",
		Domain: "gmail.test"}, Account: account, From: "sender@" + account + ".test"}, status, reply)
}

// leaseOutcome emits the outcome of l, as outcome does.
func (f *fixture) leaseOutcome(l *queue.Lease, status queue.Status, reply string) {
	now := f.clock.Now()
	a := queue.Attempt{Time: now, SourceIP: "127.0.0.2", MX: "mx.gmail.test", MXAddr: "127.0.0.11:25", Response: reply}
	if status == queue.StatusBounced {
		a.Category = "bad-mailbox" // the classifier's, for 5.1.1: it suppresses
	}
	v := map[queue.Status]queue.Verdict{queue.StatusDelivered: queue.VerdictDelivered,
		queue.StatusDeferred: queue.VerdictDeferred, queue.StatusBounced: queue.VerdictPermanent}[status]
	o := queue.Outcome{Status: status, Attempt: a}
	if status == queue.StatusDeferred {
		o.Next = now.Add(5 * time.Minute)
	}
	f.em.Outcomes(context.Background(), []queue.BounceItem{{Lease: l, Outcome: o, Result: queue.Result{Verdict: v, Attempt: a}}})
}

// eventually polls cond for up to 20 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 20*time.Second, what, cond)
}
