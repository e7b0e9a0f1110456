package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/sandbox"
)

// gmailRateLimit is Gmail's answer to an IP that sends too fast.
const gmailRateLimit = "421 4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. For more information, go to https://support.google.com/mail/?p=UnsolicitedRateLimitError"

// rateLimiter answers 421 4.7.28 to the MAIL commands of a source IP past
// max in the last window, as Gmail does, and counts what it said.
type rateLimiter struct {
	max    int
	window time.Duration

	mu      sync.Mutex
	on      bool
	mails   map[string][]time.Time // source IP → its MAIL commands in the window
	log     []mailEvent
	refused int
}

type mailEvent struct {
	at      time.Time
	refused bool
}

func (l *rateLimiter) handle(ev sandbox.Event) *sandbox.Reply {
	if ev.Stage != sandbox.StageMail {
		return nil
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.mails[ev.SourceIP]
	for len(ts) > 0 && now.Sub(ts[0]) >= l.window {
		ts = ts[1:]
	}
	ts = append(ts, now) // Gmail counts the refused ones too
	l.mails[ev.SourceIP] = ts
	refuse := l.on && len(ts) > l.max
	l.log = append(l.log, mailEvent{now, refuse})
	if refuse {
		l.refused++
		return &sandbox.Reply{Text: gmailRateLimit}
	}
	return nil
}

func (l *rateLimiter) stop() { l.mu.Lock(); l.on = false; l.mu.Unlock() }

// share is the part of the MAIL commands after from that were refused.
func (l *rateLimiter) share(from time.Time) (refused, all int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.log {
		if e.at.After(from) {
			all++
			if e.refused {
				refused++
			}
		}
	}
	return refused, all
}

// TestPaceOnRateLimit: a receiver that answers Gmail's 421 4.7.28 once a
// source IP passes 10 MAIL commands in 5 s (the test's scale of Gmail's
// per-minute limits: pool.pace_window is 5 s here, 1 min by default) gets
// 160 messages without any IP being suspended: sendpool paces each IP
// there instead. After the first 15 s (the scale of 90 s) fewer than 20%
// of its MAIL commands are refused; all 160 arrive; mail to another
// provider meanwhile is not slowed; the API and /metrics show the paces;
// and once the receiver stops complaining the pace ends and the rate is
// the configured one again.
func TestPaceOnRateLimit(t *testing.T) {
	t.Parallel()
	e := poolEnv(t, `retry = ["2s"]
[pool]
pace_window = "5s"
pace_step = "2s"
pace_hold = "4s"
`, nil)
	gmail := e.world.Sink("gmail.test")
	limiter := &rateLimiter{max: 10, window: 5 * time.Second, on: true, mails: map[string][]time.Time{}}
	gmail.SetHandler(limiter.handle)
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")

	start := time.Now()
	const n = 160
	sendAll := func(prefix, domain string, count int) {
		var wg sync.WaitGroup
		ids := make(chan string)
		for range 16 {
			wg.Go(func() {
				for id := range ids {
					e.send(id, id+"@"+domain)
				}
			})
		}
		for i := range count {
			ids <- fmt.Sprintf("%s%03d", prefix, i)
		}
		close(ids)
		wg.Wait()
	}
	sendAll("g", "gmail.test", n)

	// Another provider, while gmail.test is paced: at once.
	time.Sleep(3 * time.Second)
	yStart := time.Now()
	sendAll("y", "yahoo.test", 20)
	for i := range 20 {
		e.waitArrived("yahoo.test", fmt.Sprintf("y%03d", i))
	}
	if d := time.Since(yStart); d > 10*time.Second {
		t.Errorf("20 messages to yahoo.test took %v while gmail.test was paced", d)
	}
	ips := e.apiIPs()
	paced := 0
	for _, ip := range ips {
		if ip.Status != api.IPActive {
			t.Errorf("%s is %s (%s): a rate limit must pace, not suspend", ip.Address, ip.Status, ip.Reason)
		}
		for _, p := range ip.Paces {
			if p.Provider == "gmail.test" && p.Rate > 0 && strings.Contains(p.Reply, "4.7.28") {
				paced++
			}
		}
	}
	if paced == 0 {
		t.Errorf("no IP shows a pace for gmail.test in the API: %+v", ips)
	}
	if m := e.metricPrefix("sendpool_ip_paced_total{"); m == "" {
		t.Error("no sendpool_ip_paced_total in /metrics")
	}

	waitFor(t, 3*time.Minute, "all 160 messages at gmail.test", func() bool {
		got := map[string]bool{}
		for _, m := range gmail.Messages() {
			if i := strings.Index(string(m.Data), "Message-ID: <g"); i >= 0 {
				got[string(m.Data[i+13:i+17])] = true
			}
		}
		return len(got) == n
	})
	took := time.Since(start)
	refused, all := limiter.share(start.Add(15 * time.Second))
	t.Logf("160 delivered in %v; after the first 15 s, %d of %d MAIL commands refused; %d refused in all",
		took.Round(time.Second), refused, all, limiter.refused)
	if all > 0 && float64(refused) >= 0.2*float64(all) {
		t.Errorf("after the first 15 s, %d of %d MAIL commands refused: want under 20%%", refused, all)
	}
	for _, ip := range e.apiIPs() {
		if ip.Status != api.IPActive {
			t.Errorf("%s is %s at the end", ip.Address, ip.Status)
		}
	}

	// The receiver stops complaining: with mail flowing, each pace relaxes
	// and ends (pace_hold 4s after the last complaint, once back at its
	// starting rate).
	limiter.stop()
	i := 0
	waitFor(t, 90*time.Second, "every pace ended", func() bool {
		id := fmt.Sprintf("after%03d", i)
		i++
		e.send(id, id+"@gmail.test")
		for _, ip := range e.apiIPs() {
			if len(ip.Paces) > 0 {
				return false
			}
		}
		return true
	})
	if m := e.metricPrefix(`sendpool_ip_pace_rate{ip="127.0.0.2",provider="gmail.test"}`); m != "" && !strings.HasSuffix(m, " 0") {
		t.Errorf("pace rate metric after the pace ended: %q", m)
	}
}

// apiIPs is GET /api/v1/ips.
func (e *env) apiIPs() []api.IPStatus {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ips, err := e.api().IPs(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return ips
}

// metricPrefix returns the first line of /metrics that starts with prefix.
func (e *env) metricPrefix(prefix string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	text, err := e.api().Metrics(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
