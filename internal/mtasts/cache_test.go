package mtasts

import (
	"net/http"
	"testing"
	"time"

	"sendpool/internal/dns"
	"sendpool/internal/sandbox"
	"sendpool/internal/state/memory"
	"sendpool/internal/testclock"
)

// cacheWorld is Policies over a sandbox DNS server and the policy server,
// on the test clock, with the shared state in memory.
type cacheWorld struct {
	*policyWorld
	dns   *sandbox.DNSServer
	clock *testclock.Clock
	state *memory.State
	p     *Policies
}

func newCacheWorld(t *testing.T) *cacheWorld {
	t.Helper()
	w := &cacheWorld{policyWorld: newPolicyWorld(t), clock: testclock.New()}
	var err error
	if w.dns, err = sandbox.NewDNSServer("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.dns.Close() })
	res, err := dns.New([]string{w.dns.Addr()}, dns.Options{Cache: dns.NoCache{}})
	if err != nil {
		t.Fatal(err)
	}
	w.state = memory.New(w.clock.Now)
	w.p = w.newPolicies(res)
	return w
}

func (w *cacheWorld) newPolicies(res Resolver) *Policies {
	p := New(Config{Resolver: res, Fetcher: w.f, State: w.state, Now: w.clock.Now})
	return p
}

func (w *cacheWorld) publish(domain, id, policy string) {
	w.dns.SetTXT("_mta-sts."+domain, "v=STSv1; id="+id)
	w.sts.SetPolicy(domain, policy)
}

func wantMode(t *testing.T, r Result, mode Mode) {
	t.Helper()
	if r.Policy == nil || r.Policy.Mode != mode {
		t.Fatalf("result %+v, want a %s policy", r, mode)
	}
}

// TestPoliciesCache: a policy is fetched once per id and shared through
// the state; a new id is fetched at once; a failed fetch keeps the cached
// policy; a removed record leaves it in force until max_age.
func TestPoliciesCache(t *testing.T) {
	w := newCacheWorld(t)
	defer w.p.Close()
	if r := w.p.Get(t.Context(), "nopolicy.test"); r.Policy != nil || r.Failure != "" {
		t.Fatalf("domain without a record: %+v", r)
	}
	w.publish("good.test", "one", goodPolicy)
	wantMode(t, w.p.Get(t.Context(), "good.test"), ModeEnforce)
	wantMode(t, w.p.Get(t.Context(), "Good.Test."), ModeEnforce)
	if n := w.sts.Requests("good.test"); n != 1 {
		t.Errorf("%d fetches for one id, want 1", n)
	}
	// Another node sharing the state needs no fetch of its own.
	other := w.newPolicies(w.p.cfg.Resolver)
	defer other.Close()
	wantMode(t, other.Get(t.Context(), "good.test"), ModeEnforce)
	if n := w.sts.Requests("good.test"); n != 1 {
		t.Errorf("another node fetched again: %d fetches", n)
	}

	// A new id: fetched at once.
	w.publish("good.test", "two", "version: STSv1\nmode: testing\nmx: mx.good.test\nmax_age: 86400\n")
	wantMode(t, w.p.Get(t.Context(), "good.test"), ModeTesting)

	// The id changes but the new policy cannot be had: the cached one
	// stands (§5), and the failure is not asked again for RetryAfter.
	w.dns.SetTXT("_mta-sts.good.test", "v=STSv1; id=three")
	w.sts.SetHandler("good.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	before := w.sts.Requests("good.test")
	wantMode(t, w.p.Get(t.Context(), "good.test"), ModeTesting)
	wantMode(t, w.p.Get(t.Context(), "good.test"), ModeTesting)
	if n := w.sts.Requests("good.test") - before; n != 1 {
		t.Errorf("%d fetches of a failing policy within RetryAfter, want 1", n)
	}

	// The record goes: the cached policy stays in force until max_age.
	w.dns.Remove("_mta-sts.good.test")
	w.clock.Add(23 * time.Hour)
	wantMode(t, w.p.Get(t.Context(), "good.test"), ModeTesting)
	w.clock.Add(2 * time.Hour)
	if r := w.p.Get(t.Context(), "good.test"); r.Policy != nil {
		t.Errorf("policy past its max_age with no record: %+v", r)
	}
}

// TestPoliciesFirstFetchFails: a domain announcing a policy that cannot be
// had has none, with the failure to report.
func TestPoliciesFirstFetchFails(t *testing.T) {
	w := newCacheWorld(t)
	defer w.p.Close()
	w.dns.SetTXT("_mta-sts.broken.test", "v=STSv1; id=1")
	w.sts.SetHandler("broken.test", http.RedirectHandler("https://elsewhere.test/", http.StatusMovedPermanently))
	r := w.p.Get(t.Context(), "broken.test")
	if r.Policy != nil || r.Failure != ResultFetchError || r.Err == nil {
		t.Fatalf("result %+v, want no policy and %s", r, ResultFetchError)
	}
	w.dns.SetTXT("_mta-sts.invalid.test", "v=STSv1; id=1")
	w.sts.SetPolicy("invalid.test", "version: STSv1\nmode: sometimes\n")
	if r := w.p.Get(t.Context(), "invalid.test"); r.Policy != nil || r.Failure != ResultPolicyInvalid {
		t.Fatalf("result %+v, want %s", r, ResultPolicyInvalid)
	}
}

// TestPoliciesRefreshAhead: half way to max_age the cached policy is
// fetched again in the background while the cached one keeps serving; a
// failed refresh keeps it.
func TestPoliciesRefreshAhead(t *testing.T) {
	w := newCacheWorld(t)
	w.publish("good.test", "one", goodPolicy) // max_age a day
	wantMode(t, w.p.Get(t.Context(), "good.test"), ModeEnforce)

	w.sts.SetPolicy("good.test", "version: STSv1\nmode: testing\nmx: mx.good.test\nmax_age: 86400\n")
	w.clock.Add(13 * time.Hour)
	wantMode(t, w.p.Get(t.Context(), "good.test"), ModeEnforce) // served from the cache meanwhile
	w.p.Close()                                                 // waits for the refresh
	if n := w.sts.Requests("good.test"); n != 2 {
		t.Fatalf("%d fetches, want the first and one refresh", n)
	}
	p2 := w.newPolicies(w.p.cfg.Resolver)
	defer p2.Close()
	wantMode(t, p2.Get(t.Context(), "good.test"), ModeTesting)

	// Next refresh fails: the refreshed policy keeps serving to its end.
	w.sts.SetHandler("good.test", http.NotFoundHandler())
	w.clock.Add(13 * time.Hour)
	wantMode(t, p2.Get(t.Context(), "good.test"), ModeTesting)
	p2.Close()
	wantMode(t, p2.Get(t.Context(), "good.test"), ModeTesting)
}
