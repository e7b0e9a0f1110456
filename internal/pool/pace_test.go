package pool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"sendpool/internal/state"
	"sendpool/internal/state/memory"
	"sendpool/internal/state/redis"
	"sendpool/internal/testclock"
	"sendpool/internal/testenv"
)

// paceGauge records what the pacer shows in /metrics.
type paceGauge struct {
	mu    sync.Mutex
	rate  map[string]int
	paced int
}

func (g *paceGauge) SetPace(ip, provider string, rate int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rate[ip+" "+provider] = rate
}

func (g *paceGauge) Paced(ip, provider string) { g.mu.Lock(); g.paced++; g.mu.Unlock() }

func newPacer(st state.State, clk *testclock.Clock, g PaceGauge) *Pacer {
	return NewPacer(PaceConfig{State: st, Window: time.Minute, Step: time.Minute, Hold: 5 * time.Minute,
		MinRate: 2, Conns: 8, Gauge: g, Now: clk.Now})
}

const rateLimitReply = "421 4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited."

// sendN chooses n messages to gmail from p and returns how many got an IP.
func sendN(p *Pool, n int) int {
	ok := 0
	for range n {
		if p.Choose(context.Background(), Request{Destination: "gmail", Rcpts: 1}).OK {
			ok++
		}
	}
	return ok
}

// sendFor tries one message to gmail from each pool every 100 ms for d
// (the clock moves; the pools take turns at going first) and returns how
// many got an IP from each.
func sendFor(clk *testclock.Clock, d time.Duration, pools ...*Pool) []int {
	sent := make([]int, len(pools))
	for step, end := 0, clk.Now().Add(d); clk.Now().Before(end); step++ {
		for k := range pools {
			i := (step + k) % len(pools)
			sent[i] += sendN(pools[i], 1)
		}
		clk.Add(100 * time.Millisecond)
	}
	return sent
}

// TestPaceHalvesAndRelaxes: a rate-limit reply paces the IP for that
// provider at half of what it sent in the last window (replies to the same
// burst do not halve it again), with fewer connections; the rate is held;
// each further complaint halves it; each clean step raises it a quarter,
// to just under the rate of the latest complaint until quiet for the hold,
// then up to where the complaints began, and the pace ends once it has
// been quiet for the hold. Other providers are not touched, and the metrics
// follow.
func TestPaceHalvesAndRelaxes(t *testing.T) {
	ctx := context.Background()
	clk := testclock.New()
	g := &paceGauge{rate: map[string]int{}}
	pc := newPacer(memory.New(clk.Now), clk, g)
	ip := testIPs(1)[0]
	p := New(Config{IPs: []IP{ip}, Pacer: pc, Now: clk.Now})

	if n := sendN(p, 40); n != 40 {
		t.Fatalf("unpaced: %d of 40 sent", n)
	}
	if c := p.Choose(ctx, Request{Destination: "gmail"}); c.Conns != 8 {
		t.Errorf("unpaced connections %d, want 8", c.Conns)
	}
	retry := p.Report(ctx, Reply{IP: ip.String(), Destination: "gmail", Verdict: "deferred", Category: RateLimit, Text: rateLimitReply})
	paces := pc.Paces()
	if len(paces) != 1 || paces[0].Rate != 20 || paces[0].Conns != 4 || paces[0].Ceiling != 41 || paces[0].Reply != rateLimitReply {
		t.Fatalf("after the first complaint: %+v, want rate 20 (half of 41), 4 connections", paces)
	}
	if !retry.After(clk.Now()) {
		t.Errorf("retry %v: with no other IP, when the pace allows the next message", retry)
	}
	clk.Add(time.Second) // the same burst's other replies
	p.Report(ctx, Reply{IP: ip.String(), Destination: "gmail", Verdict: "deferred", Category: RateLimit, Text: rateLimitReply})
	if r := pc.Paces()[0].Rate; r != 20 {
		t.Errorf("a reply to the same burst halved it again: rate %d", r)
	}
	clk.Add(20 * time.Second) // within the window of the halving: an echo
	p.Report(ctx, Reply{IP: ip.String(), Destination: "gmail", Verdict: "deferred", Category: RateLimit, Text: rateLimitReply})
	if pcs := pc.Paces(); pcs[0].Rate != 20 || !pcs[0].Last.Equal(clk.Now()) {
		t.Errorf("a complaint within a window of the halving: %+v, want rate 20 and the quiet time restarted", pcs[0])
	}
	if g.rate[ip.String()+" gmail"] != 20 || g.paced != 2 {
		t.Errorf("metrics: %v, paced %d", g.rate, g.paced)
	}
	// The pace holds, spaced evenly: one now, the next when its share of
	// the window (3 s) has passed, 20 in the window.
	if n := sendN(p, 25); n != 1 {
		t.Errorf("paced at 20 a minute: %d of a burst of 25 sent, want 1", n)
	}
	c := p.Choose(ctx, Request{Destination: "gmail"})
	if c.OK || !c.Until.Equal(clk.Now().Add(3*time.Second)) {
		t.Errorf("over the pace: %+v, want no IP until 3 s from now", c)
	}
	if sendN(New(Config{IPs: []IP{ip}, Pacer: pc, Now: clk.Now}), 1) != 0 {
		t.Error("another pool on the same pacer sends past the pace")
	}
	if n := sendFor(clk, time.Minute-time.Millisecond, p)[0]; n != 19 {
		t.Errorf("paced at 20 a minute: %d more sent in the window, want 19", n)
	}
	if !p.Choose(ctx, Request{Destination: "yahoo"}).OK {
		t.Error("another provider is held by gmail's pace")
	}

	clk.Add(15 * time.Second)
	p.Report(ctx, Reply{IP: ip.String(), Destination: "gmail", Verdict: "deferred", Category: RateLimit, Text: rateLimitReply})
	if pcs := pc.Paces(); pcs[0].Rate != 10 || pcs[0].Conns != 2 {
		t.Errorf("second complaint: %+v, want rate 10, 2 connections", pcs[0])
	}
	// Clean steps: +25% (at least 1) each Step, but under 20 (where the
	// last complaint came) until quiet for the hold (5m), then up to the
	// ceiling of 41.
	want := []int{12, 15, 18, 19, 23, 28, 35, 41}
	for i, w := range want {
		clk.Add(time.Minute)
		p.Report(ctx, Reply{IP: ip.String(), Destination: "gmail", Verdict: "delivered"})
		if pcs := pc.Paces(); len(pcs) != 1 || pcs[0].Rate != w {
			t.Fatalf("step %d: %+v, want rate %d", i+1, pcs, w)
		}
	}
	clk.Add(time.Minute) // back at the ceiling, and quiet for more than the hold
	p.Report(ctx, Reply{IP: ip.String(), Destination: "gmail", Verdict: "delivered"})
	if pcs := pc.Paces(); len(pcs) != 0 {
		t.Fatalf("pace still in force: %+v", pcs)
	}
	if g.rate[ip.String()+" gmail"] != 0 {
		t.Errorf("metric after the pace ended: %v", g.rate)
	}
	if n := sendN(p, 100); n != 100 {
		t.Errorf("after the pace: %d of 100 sent", n)
	}
}

// TestPaceSharedByNodes: two nodes (two pacers) on one shared state: the
// pace one node set is seen by the other at its next refresh, and both draw
// on one rate.
func TestPaceSharedByNodes(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		st := memory.New(nil)
		sharedPace(t, st, st)
	})
	t.Run("redis", func(t *testing.T) {
		url := testenv.Redis(t)
		b := make([]byte, 6)
		rand.Read(b)
		prefix := "sendpool-test:" + hex.EncodeToString(b) + ":"
		open := func() state.State {
			s, err := redis.Open(context.Background(), url, redis.Options{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		sharedPace(t, open(), open())
	})
}

func sharedPace(t *testing.T, s1, s2 state.State) {
	ctx := context.Background()
	clk := testclock.New() // the real time: Redis expires by its own clock
	ip := testIPs(1)[0]
	a := New(Config{IPs: []IP{ip}, Pacer: newPacer(s1, clk, nil), Now: clk.Now})
	pb := newPacer(s2, clk, nil)
	b := New(Config{IPs: []IP{ip}, Pacer: pb, Now: clk.Now})
	sendN(a, 20)
	a.Report(ctx, Reply{IP: ip.String(), Destination: "gmail", Verdict: "deferred", Category: RateLimit, Text: rateLimitReply})
	if err := pb.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if pcs := pb.Paces(); len(pcs) != 1 || pcs[0].Rate != 10 {
		t.Fatalf("node b's paces: %+v, want node a's rate 10", pcs)
	}
	if nb, na := sendN(b, 1), sendN(a, 5); nb != 1 || na != 0 {
		t.Errorf("node b sent %d, then node a %d at once: want 1 and 0 (one shared slot)", nb, na)
	}
	if n := sendFor(clk, time.Minute-time.Millisecond, a, b); n[0]+n[1] != 9 {
		t.Errorf("nodes sent 1 + %d + %d in the window, want 10 together", n[0], n[1])
	}
}

// TestReportRetry: after a block, the recipients are tried again at once
// while another untried IP may send; once each was tried, the schedule
// decides. A permanent or a plain temporary reply never asks for a retry.
func TestReportRetry(t *testing.T) {
	ctx := context.Background()
	clk := testclock.New()
	tr := NewTracker(TrackerConfig{State: memory.New(clk.Now), SuspendFor: time.Hour, Now: clk.Now})
	ips := testIPs(1, 1, 1)
	p := New(Config{IPs: ips, Tracker: tr, Now: clk.Now})
	block := Reply{IP: "127.0.0.2", Destination: "gmail", Verdict: "blocked-ip", Scope: "pool",
		Text: "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using zen.spamhaus.org"}
	if at := p.Report(ctx, block); !at.Equal(clk.Now()) {
		t.Errorf("block with two untried IPs: retry %v, want now", at)
	}
	if tr.Usable(ips[0].Addr, "gmail") {
		t.Error("the blocked IP is not suspended")
	}
	block.IP, block.Tried = "127.0.0.3", []string{"127.0.0.2", "127.0.0.4"}
	if at := p.Report(ctx, block); !at.IsZero() {
		t.Errorf("block with every IP tried: retry %v, want the schedule's", at)
	}
	for _, r := range []Reply{
		{IP: "127.0.0.4", Destination: "gmail", Verdict: "permanent", Text: "550 5.1.1 user unknown"},
		{IP: "127.0.0.4", Destination: "gmail", Verdict: "deferred", Category: "temporary", Text: "451 4.3.0 try later"},
		{IP: "127.0.0.4", Destination: "gmail", Verdict: "delivered", Text: "250 ok"},
	} {
		if at := p.Report(ctx, r); !at.IsZero() {
			t.Errorf("%s: retry %v, want none", r.Text, at)
		}
	}
}

// TestWarmupStallsWhileDeferred: an IP in warm-up whose mail a provider
// defers too much (over Stall of its attempts there in the last hour)
// stops climbing its ramp there: its day, and so its cap, stay while the
// deferrals last, and move on from where they stood afterwards. Another
// provider's ramp goes on.
func TestWarmupStallsWhileDeferred(t *testing.T) {
	ctx := context.Background()
	clk, day1 := warmDay1()
	a := testIPs(1)[0].Addr
	w := NewWarmup(WarmupConfig{State: memory.New(clk.Now), Stall: 0.2, Now: clk.Now,
		IPs: []WarmIP{{Addr: a, Start: day1, Schedule: schedule3()}}})
	for i := range stallMinAttempts {
		w.Observe(ctx, a, "gmail", i%3 == 0) // 7 of 20 deferred: 35%
		clk.Add(time.Second)
	}
	clk.Add(stallRecheck)
	w.Observe(ctx, a, "gmail", true)
	st, _, _ := w.Status(ctx, a)
	if !st.Providers[0].Stalled || st.Providers[0].Provider != "gmail" {
		t.Fatalf("after 35%% deferrals: %+v, want gmail standing still", st.Providers)
	}
	clk.Add(24 * time.Hour) // a day later, with no mail meanwhile: still stalled as last judged
	if st, _, _ = w.Status(ctx, a); st.Day != 2 || st.Providers[0].Day != 1 || st.Providers[0].Cap != 3 || st.Providers[1].Day != 2 {
		t.Errorf("a day on: %+v, want gmail still on day 1 (cap 3), the others on day 2", st)
	}
	// Clean again: the stand-still ends, the day moves on from day 1.
	for range stallMinAttempts {
		w.Observe(ctx, a, "gmail", false)
	}
	clk.Add(stallRecheck)
	w.Observe(ctx, a, "gmail", false)
	clk.Add(24 * time.Hour)
	if st, _, _ = w.Status(ctx, a); st.Providers[0].Stalled || st.Providers[0].Day != 2 || st.Providers[0].Cap != 6 {
		t.Errorf("after the deferrals stopped and a day: %+v, want gmail on day 2 (cap 6)", st.Providers[0])
	}
}

// TestPaceEndsWhenItHoldsNothingBack: a pace back at its ceiling and quiet
// for the hold does not end while it still holds mail back (its end would
// let the queue out in one burst): it keeps rising past the ceiling, and
// ends once a step has passed without holding anything back.
func TestPaceEndsWhenItHoldsNothingBack(t *testing.T) {
	ctx := context.Background()
	clk := testclock.New()
	pc := newPacer(memory.New(clk.Now), clk, nil)
	ip := testIPs(1)[0]
	p := New(Config{IPs: []IP{ip}, Pacer: pc, Now: clk.Now})
	sendN(p, 8)
	p.Report(ctx, Reply{IP: ip.String(), Destination: "gmail", Verdict: "deferred", Category: RateLimit, Text: rateLimitReply})
	if pcs := pc.Paces(); len(pcs) != 1 || pcs[0].Rate != 4 || pcs[0].Ceiling != 8 {
		t.Fatalf("paces %+v, want rate 4 (half of 8)", pcs)
	}
	// Every minute a clean delivery, and more mail waiting than the pace
	// lets through.
	var rates []int
	for range 10 {
		sendFor(clk, time.Minute, p)
		p.Report(ctx, Reply{IP: ip.String(), Destination: "gmail", Verdict: "delivered"})
		pcs := pc.Paces()
		if len(pcs) == 0 {
			t.Fatalf("the pace ended while holding mail back, after rates %v", rates)
		}
		rates = append(rates, pcs[0].Rate)
	}
	if last := rates[len(rates)-1]; last <= 8 {
		t.Errorf("rates %v: quiet and holding mail back, want past the ceiling of 8", rates)
	}
	clk.Add(70 * time.Second) // nothing held back for more than a step
	p.Report(ctx, Reply{IP: ip.String(), Destination: "gmail", Verdict: "delivered"})
	if pcs := pc.Paces(); len(pcs) != 0 {
		t.Errorf("pace still in force after a step without holding anything back: %+v", pcs)
	}
}
