package deliver

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/classify"
	"sendpool/internal/pool"
	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
	"sendpool/internal/state"
	"sendpool/internal/state/memory"
)

// withTracker makes a courier whose pool's health is a Tracker over
// in-memory state, with the real classifier and its provider names.
func (w *world) withTracker(t *testing.T, mod func(*Config)) (*Courier, *pool.Tracker) {
	t.Helper()
	tr := pool.NewTracker(pool.TrackerConfig{State: memory.New(nil), SuspendFor: time.Hour})
	cl, err := classify.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := w.courier(func(c *Config) {
		c.Pool = pool.New(pool.Config{IPs: w.ips, Tracker: tr, Rand: mrand.New(mrand.NewPCG(3, 4))})
		c.Classifier = cl
		c.Provider = cl.Provider
		if mod != nil {
			mod(c)
		}
	})
	return c, tr
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestDeliverBlockedIPSuspendsIt: a Spamhaus refusal at RCPT suspends the
// source IP for the whole pool with the reply as reason; the retry comes
// from another IP and the sink never hears from the blocked one again.
func TestDeliverBlockedIPSuspendsIt(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	const reply = "554 5.7.1 Service unavailable; Client host [127.0.0.3] blocked using zen.spamhaus.org"
	s.SetRules(sandbox.Rule{SourceIP: "127.0.0.3", Stage: sandbox.StageRcpt, Reply: reply})
	c, tr := w.withTracker(t, nil)

	leases := w.message("m1", "x\r\n", "a@gmail.test")
	leases[0].TriedIPs = []string{"127.0.0.2", "127.0.0.4", "127.0.0.5"} // so .3 is picked
	res := deliver(t, c, leases)
	wantVerdict(t, res, queue.VerdictBlockedIP)
	if res[0].Scope != "pool" || res[0].Attempt.SourceIP != "127.0.0.3" {
		t.Fatalf("result %+v", res[0])
	}
	sp := tr.Suspensions()[addr("127.0.0.3")]
	if len(sp) != 1 || sp[0].Scope != state.ScopePool || sp[0].Reason != reply || sp[0].Source != pool.SourceReceiver {
		t.Fatalf("suspensions of 127.0.0.3: %+v", sp)
	}
	// The scheduler's retry: .3 is excluded although it is the only
	// untried IP left for a delivery that tried the others.
	for range 10 {
		leases[0].TriedIPs = []string{"127.0.0.2", "127.0.0.4", "127.0.0.5", "127.0.0.3"}
		res = deliver(t, c, leases)
		wantVerdict(t, res, queue.VerdictDelivered)
	}
	if n := s.ConnsFrom("127.0.0.3"); n != 1 {
		t.Errorf("%d connections from 127.0.0.3, want only the blocked one", n)
	}
}

// TestDeliverGreetingBlockIsPerProvider: Outlook's S3140 at the greeting
// takes the IP out for the provider of that MX host only; gmail.test still
// gets mail from it.
func TestDeliverGreetingBlockIsPerProvider(t *testing.T) {
	w := newWorld(t)
	ol := w.sink("mx.outlook.test", "127.0.0.102", sandbox.SinkConfig{})
	gm := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("outlook.test", "mx.outlook.test")
	w.mx("gmail.test", "mx.gmail.test")
	const reply = "550 5.7.1 Unfortunately, messages from [127.0.0.3] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140)"
	ol.SetRules(sandbox.Rule{SourceIP: "127.0.0.3", Stage: sandbox.StageGreeting, Reply: reply})
	c, tr := w.withTracker(t, nil)

	leases := w.message("m1", "x\r\n", "a@outlook.test")
	leases[0].TriedIPs = []string{"127.0.0.2", "127.0.0.4", "127.0.0.5"}
	res := deliver(t, c, leases)
	wantVerdict(t, res, queue.VerdictBlockedIP)
	if res[0].Scope != "outlook.test" {
		t.Fatalf("scope %q, want outlook.test (the provider of mx.outlook.test)", res[0].Scope)
	}
	if sp := tr.Suspensions()[addr("127.0.0.3")]; len(sp) != 1 || sp[0].Scope != "outlook.test" {
		t.Fatalf("suspensions of 127.0.0.3: %+v", sp)
	}
	// Only .3 is untried: gmail.test gets it, outlook.test does not.
	only3 := []string{"127.0.0.2", "127.0.0.4", "127.0.0.5"}
	g := w.message("m2", "y\r\n", "b@gmail.test")
	g[0].TriedIPs = only3
	if res := deliver(t, c, g); res[0].Attempt.SourceIP != "127.0.0.3" || res[0].Verdict != queue.VerdictDelivered {
		t.Errorf("gmail.test: %+v, want delivered from 127.0.0.3", res[0])
	}
	o := w.message("m3", "z\r\n", "c@outlook.test")
	o[0].TriedIPs = only3
	if res := deliver(t, c, o); res[0].Attempt.SourceIP == "127.0.0.3" || res[0].Verdict != queue.VerdictDelivered {
		t.Errorf("outlook.test: %+v, want delivered from another IP", res[0])
	}
	if n := ol.ConnsFrom("127.0.0.3"); n != 1 {
		t.Errorf("outlook.test saw %d connections from 127.0.0.3, want the blocked one only", n)
	}
	if n := gm.ConnsFrom("127.0.0.3"); n != 1 {
		t.Errorf("gmail.test saw %d connections from 127.0.0.3, want 1", n)
	}
}

// TestDeliverPicksPerMXHost: the source IP is picked for each MX host's
// provider: with every IP but .5 out for the first host's provider, the
// first host gets .5, and a second host of another provider, tried when
// the first is down, may get any.
func TestDeliverPicksPerMXHost(t *testing.T) {
	w := newWorld(t)
	backup := w.sink("mx.backup.test", "127.0.0.102", sandbox.SinkConfig{})
	w.host("mx1.primary.test", "127.0.0.101") // nothing listens: connection refused
	w.mx("example.test", "mx1.primary.test", "mx.backup.test")
	c, tr := w.withTracker(t, nil)
	ctx := context.Background()
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"} {
		tr.Block(ctx, ip, "backup.test", "550 5.7.1 S3140")
	}
	res := deliver(t, c, w.message("m1", "x\r\n", "a@example.test"))
	wantVerdict(t, res, queue.VerdictDeferred)
	if res[0].Attempt.MX != "mx1.primary.test" {
		t.Errorf("attempt %+v: the last failure should be the primary's (the backup has no usable IP)", res[0].Attempt)
	}
	if len(backup.Conns()) != 0 {
		t.Fatal("the backup MX got a connection from an IP suspended for its provider")
	}
	tr.Resume(ctx, "127.0.0.5", "", "")
	res = deliver(t, c, w.message("m2", "y\r\n", "b@example.test"))
	wantVerdict(t, res, queue.VerdictDelivered)
	if res[0].Attempt.SourceIP != "127.0.0.5" || res[0].Attempt.MX != "mx.backup.test" {
		t.Errorf("attempt %+v, want mx.backup.test from 127.0.0.5", res[0].Attempt)
	}
}

// TestDeliverLeavesConnectionOfSuspendedIP: when the IP of a connection in
// progress is suspended (here by another node, through the shared state,
// while the first message is sent), the rest of the group goes over a new
// connection from another IP.
func TestDeliverLeavesConnectionOfSuspendedIP(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	c, tr := w.withTracker(t, nil)
	var once sync.Once
	s.SetHandler(func(ev sandbox.Event) *sandbox.Reply {
		if ev.Stage == sandbox.StageEOD {
			once.Do(func() { tr.Block(context.Background(), ev.SourceIP, "pool", "554 blocked using bl.spamcop.net") })
		}
		return nil
	})
	res := deliver(t, c, w.message("m1", "1\r\n", "a@gmail.test"), w.message("m2", "2\r\n", "b@gmail.test"), w.message("m3", "3\r\n", "c@gmail.test"))
	wantVerdict(t, res, queue.VerdictDelivered, queue.VerdictDelivered, queue.VerdictDelivered)
	first := res[0].Attempt.SourceIP
	if res[1].Attempt.SourceIP == first || res[2].Attempt.SourceIP != res[1].Attempt.SourceIP {
		t.Errorf("sources %s, %s, %s: want the 2nd and 3rd from one other IP", first, res[1].Attempt.SourceIP, res[2].Attempt.SourceIP)
	}
	if n := len(s.Conns()); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestDeliverKeepsGreylistedIP: a delivery whose NextIP is set goes from
// that IP while it is usable, and from another once it is not.
func TestDeliverKeepsGreylistedIP(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	c, tr := w.withTracker(t, nil)
	for i := range 10 {
		l := w.message(fmt.Sprintf("m%d", i), "x\r\n", "a@gmail.test")
		l[0].TriedIPs, l[0].NextIP = []string{"127.0.0.4"}, "127.0.0.4"
		res := deliver(t, c, l)
		if res[0].Attempt.SourceIP != "127.0.0.4" {
			t.Fatalf("attempt %d from %s, want the greylisted 127.0.0.4", i, res[0].Attempt.SourceIP)
		}
	}
	tr.Block(context.Background(), "127.0.0.4", "gmail.test", "421 4.7.0 [TS01]")
	l := w.message("mx", "x\r\n", "a@gmail.test")
	l[0].NextIP = "127.0.0.4"
	if res := deliver(t, c, l); res[0].Attempt.SourceIP == "127.0.0.4" || res[0].Verdict != queue.VerdictDelivered {
		t.Errorf("with 127.0.0.4 suspended: %+v", res[0])
	}
	// One group, two wishes: each message goes from the IP it asks for.
	a := w.message("g1", "1\r\n", "b@gmail.test")
	a[0].NextIP = "127.0.0.2"
	b := w.message("g2", "2\r\n", "c@gmail.test")
	b[0].NextIP = "127.0.0.5"
	res := deliver(t, c, a, b)
	if res[0].Attempt.SourceIP != "127.0.0.2" || res[1].Attempt.SourceIP != "127.0.0.5" {
		t.Errorf("sources %s and %s, want 127.0.0.2 and 127.0.0.5", res[0].Attempt.SourceIP, res[1].Attempt.SourceIP)
	}
	if n := len(s.Messages()); n != 13 {
		t.Errorf("%d messages at the sink, want 13", n)
	}
}

// TestDeliverAllSuspendedWaits: with every IP suspended for the
// destination, nothing connects; the result is a deferral whose RetryAt is
// when the first suspension ends.
func TestDeliverAllSuspendedWaits(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	c, tr := w.withTracker(t, nil)
	ctx := context.Background()
	now := time.Now()
	var first time.Time
	for i, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"} {
		until := now.Add(time.Duration(40-i) * time.Minute)
		tr.Suspend(ctx, state.Suspension{IP: ip, Scope: "pool", Source: pool.SourceAdmin, Until: until})
		first = until
	}
	res := deliver(t, c, w.message("m1", "x\r\n", "a@gmail.test"))
	wantVerdict(t, res, queue.VerdictDeferred)
	if !res[0].RetryAt.Equal(first) || res[0].Attempt.Category != "pool" {
		t.Errorf("result %+v, want RetryAt %v", res[0], first)
	}
	if len(s.Conns()) != 0 {
		t.Error("connected with every IP suspended")
	}
}

// TestDeliverMaxConnsPerMX: with one connection per MX host allowed, a
// second group for the same host connects only once the first connection
// has ended (after its message was accepted).
func TestDeliverMaxConnsPerMX(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	acks := slowAcks(s)
	c, _ := w.withTracker(t, func(c *Config) { c.MaxConnsPerMX = 1 })
	concurrent(t, c, w.message("m1", "1\r\n", "a@gmail.test"), w.message("m2", "2\r\n", "b@gmail.test"))
	wantSerial(t, acks, s)
}

// TestDeliverMaxConnsPerIPProvider: one source IP, two MX hosts of one
// provider, one connection per IP × provider: the second waits for the
// first to end.
func TestDeliverMaxConnsPerIPProvider(t *testing.T) {
	w := newWorld(t)
	w.ips = w.ips[:1]
	s1 := w.sink("mx1.bigmail.test", "127.0.0.101", sandbox.SinkConfig{})
	s2 := w.sink("mx2.bigmail.test", "127.0.0.102", sandbox.SinkConfig{})
	w.mx("one.test", "mx1.bigmail.test")
	w.mx("two.test", "mx2.bigmail.test")
	acks := slowAcks(s1, s2)
	c, _ := w.withTracker(t, func(c *Config) { c.MaxConnsPerIPProvider = 1 })
	concurrent(t, c, w.message("m1", "1\r\n", "a@one.test"), w.message("m2", "2\r\n", "b@two.test"))
	wantSerial(t, acks, s1, s2)
}

// concurrent delivers each group in its own goroutine, all at once.
func concurrent(t *testing.T, c *Courier, groups ...[]*queue.Lease) {
	t.Helper()
	var wg sync.WaitGroup
	results := make([][]queue.Result, len(groups))
	for i, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			results[i] = c.Deliver(ctx, g)
		}()
	}
	wg.Wait()
	for _, rs := range results {
		wantVerdict(t, rs, queue.VerdictDelivered)
	}
}

// acks are the times the sinks were about to accept a message.
type acks struct {
	mu sync.Mutex
	at []time.Time
}

// slowAcks makes the sinks wait a little at the end of data, then note the
// time, before they accept: a connection that overlaps another opens
// before that time.
func slowAcks(sinks ...*sandbox.Sink) *acks {
	a := &acks{}
	for _, s := range sinks {
		s.SetHandler(func(ev sandbox.Event) *sandbox.Reply {
			if ev.Stage == sandbox.StageEOD {
				time.Sleep(200 * time.Millisecond)
				a.mu.Lock()
				a.at = append(a.at, time.Now())
				a.mu.Unlock()
			}
			return nil
		})
	}
	return a
}

// wantSerial checks that the two connections the sinks got did not
// overlap: the later one was accepted after the earlier one's message was
// about to be accepted, hence before that connection could end.
func wantSerial(t *testing.T, a *acks, sinks ...*sandbox.Sink) {
	t.Helper()
	var conns []sandbox.Conn
	for _, s := range sinks {
		conns = append(conns, s.Conns()...)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(conns) != 2 || len(a.at) != 2 {
		t.Fatalf("%d connections and %d messages, want 2 and 2", len(conns), len(a.at))
	}
	firstAck := a.at[0]
	lastConn := conns[0].At
	if conns[1].At.After(lastConn) {
		lastConn = conns[1].At
	}
	if !lastConn.After(firstAck) {
		t.Errorf("the second connection (%v) opened before the first message was accepted (%v): over the limit",
			lastConn.Format(time.StampMicro), firstAck.Format(time.StampMicro))
	}
}

// TestDeliverSlotWaitRespectsContext: a group waiting for a connection slot
// gives up when its context ends, without an attempt.
func TestDeliverSlotWaitRespectsContext(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	s.SetHandler(func(ev sandbox.Event) *sandbox.Reply {
		if ev.Stage == sandbox.StageGreeting {
			entered <- struct{}{}
			<-release
		}
		return nil
	})
	c, _ := w.withTracker(t, func(c *Config) { c.MaxConnsPerMX = 1 })
	// Both bodies stored before the courier runs: the world's maps are
	// not for concurrent writes.
	first, second := w.message("m1", "1\r\n", "a@gmail.test"), w.message("m2", "2\r\n", "b@gmail.test")
	done := make(chan []queue.Result)
	go func() { done <- deliver(t, c, first) }()
	<-entered // the first group holds the only slot
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res := c.Deliver(ctx, second)
	close(release)
	wantVerdict(t, res, queue.VerdictDeferred)
	if !res[0].Attempt.Time.IsZero() || !strings.Contains(res[0].Attempt.Response, "not attempted") {
		t.Errorf("waiting group: %+v, want no attempt", res[0].Attempt)
	}
	wantVerdict(t, <-done, queue.VerdictDelivered)
	if n := len(s.Conns()); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestSlots(t *testing.T) {
	s := newSlots()
	ctx := context.Background()
	r1, _ := s.acquire(ctx, "k", 2)
	r2, _ := s.acquire(ctx, "k", 2)
	if n := s.inUse("k"); n != 2 {
		t.Fatalf("in use %d, want 2", n)
	}
	other, err := s.acquire(ctx, "other", 2)
	if err != nil {
		t.Fatal("another key is limited by this one's slots")
	}
	other()
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.acquire(short, "k", 2); err == nil {
		t.Fatal("a third slot was given")
	}
	got := make(chan func())
	go func() {
		r, _ := s.acquire(ctx, "k", 2)
		got <- r
	}()
	r1()
	r1() // a second release is a no-op
	r3 := <-got
	// A lower cap (a paced IP's) waits while as many are held.
	lower := make(chan func())
	go func() {
		r, _ := s.acquire(ctx, "k", 1)
		lower <- r
	}()
	r2()
	select {
	case <-lower:
		t.Fatal("a slot under a cap of 1 was given while one is held")
	case <-time.After(20 * time.Millisecond):
	}
	r3()
	(<-lower)()
	if n := s.inUse("k"); n != 0 || len(s.keys) != 0 {
		t.Errorf("after release: %d in use, %d keys", n, len(s.keys))
	}
}
