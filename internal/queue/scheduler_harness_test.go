package queue_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/testclock"
	"sendpool/internal/testenv"
)

// The scheduler runs against the real SQLite store, a fake courier and a
// fake clock: the clock only moves when a test moves it, so every retry time
// is exact and nothing waits for real minutes. Poll is an hour, so the
// scheduler leases only when woken (or when a result is due at once).

var poolIPs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}

// courier answers each lease with respond, picking a source IP not yet
// tried as the real pool does, and records every call.
type courier struct {
	respond func(ctx context.Context, l *queue.Lease, ip string) queue.Result
	now     func() time.Time // stamps attempts made from an IP
	mu      sync.Mutex
	calls   []call
}

type call struct {
	rcpt string
	ip   string
}

func (c *courier) Deliver(ctx context.Context, group []*queue.Lease) []queue.Result {
	rs := make([]queue.Result, len(group))
	for i, l := range group {
		ip := poolIPs[0]
		for _, cand := range poolIPs {
			if !slices.Contains(l.TriedIPs, cand) {
				ip = cand
				break
			}
		}
		c.mu.Lock()
		c.calls = append(c.calls, call{l.Recipient, ip})
		c.mu.Unlock()
		rs[i] = c.respond(ctx, l, ip)
		if rs[i].Attempt.SourceIP != "" && rs[i].Attempt.Time.IsZero() {
			rs[i].Attempt.Time = c.now()
		}
	}
	return rs
}

func (c *courier) Calls() []call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// reply is an attempt from ip that got text, classified as v; a zero now
// is the fake clock's.
func reply(now time.Time, ip string, v queue.Verdict, text string) queue.Result {
	return queue.Result{Verdict: v, Attempt: queue.Attempt{
		Time: now, SourceIP: ip, MX: "mx.gmail.test", MXAddr: "127.0.0.11:25",
		Response: text, Verdict: string(v)}}
}

// logs keeps the level and message of every record.
type logs struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *logs) Enabled(context.Context, slog.Level) bool { return true }
func (h *logs) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logs) WithGroup(string) slog.Handler            { return h }
func (h *logs) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r)
	h.mu.Unlock()
	return nil
}

func (h *logs) count(level slog.Level, msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.recs {
		if r.Level == level && (msg == "" || r.Message == msg) {
			n++
		}
	}
	return n
}

// final is one OnFinal call, with what the store showed at that moment.
type final struct {
	rcpt   string
	status queue.Status
	stored queue.Status
	o      queue.Outcome
}

type harness struct {
	t       *testing.T
	store   *sqlite.Store
	clock   *testclock.Clock
	courier *courier
	logs    *logs

	// wrap, if set, wraps the store the schedulers see.
	wrap func(queue.Store) queue.Store

	mu      sync.Mutex
	finals  []final
	delayed []string
}

func newHarness(t *testing.T, respond func(ctx context.Context, l *queue.Lease, ip string) queue.Result) *harness {
	t.Helper()
	h := &harness{t: t, clock: testclock.New(),
		courier: &courier{respond: respond}, logs: &logs{}}
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "q.db"), sqlite.Options{Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h.store = st
	h.courier.now = h.clock.Now
	return h
}

// start runs a scheduler on the harness's store until the test ends; it
// returns the scheduler and a function that stops it and waits.
func (h *harness) start(owner string, c queue.Courier, cfg queue.SchedulerConfig) (*queue.Scheduler, func()) {
	cfg.Owner = owner
	cfg.Poll = time.Hour
	cfg.LeaseFor = time.Minute
	cfg.Now = h.clock.Now
	cfg.Logger = slog.New(h.logs)
	cfg.OnFinal = func(ctx context.Context, l *queue.Lease, o queue.Outcome, r queue.Result) {
		stored := queue.Status("")
		if d, err := h.store.GetMessage(ctx, l.MessageID); err == nil {
			for _, rd := range d.Recipients {
				if rd.Address == l.Recipient {
					stored = rd.Status
				}
			}
		}
		h.mu.Lock()
		h.finals = append(h.finals, final{l.Recipient, o.Status, stored, o})
		h.mu.Unlock()
	}
	if cfg.OnDelay == nil {
		cfg.OnDelay = func(ctx context.Context, items []queue.DelayItem) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			for _, it := range items {
				h.delayed = append(h.delayed, it.Lease.Recipient)
			}
			return nil
		}
	}
	if c == nil {
		c = h.courier
	}
	var st queue.Store = h.store
	if h.wrap != nil {
		st = h.wrap(st)
	}
	s := queue.NewScheduler(st, c, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			h.t.Errorf("Run: %v", err)
		}
	}()
	stop := func() { cancel(); <-done }
	h.t.Cleanup(stop)
	return s, stop
}

func (h *harness) Finals() []final {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.finals)
}

func (h *harness) Delayed() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.delayed)
}

// put queues a message to rcpts, accepted now, expiring after ttl.
func (h *harness) put(ttl time.Duration, rcpts ...string) *queue.Message {
	h.t.Helper()
	now := h.clock.Now()
	m := &queue.Message{Account: "shop1", From: "sender@shop1.test", Recipients: rcpts,
		Body: []byte("Subject: hi\r\n\r\nhello\r\n"), Created: now, Expires: now.Add(ttl)}
	if err := h.store.Put(h.t.Context(), m); err != nil {
		h.t.Fatal(err)
	}
	return m
}

// recipient returns the stored state of rcpt in message id.
func (h *harness) recipient(id, rcpt string) queue.RecipientDetail {
	h.t.Helper()
	d, err := h.store.GetMessage(h.t.Context(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range d.Recipients {
		if r.Address == rcpt {
			return r
		}
	}
	h.t.Fatalf("no recipient %s in %s", rcpt, id)
	return queue.RecipientDetail{}
}

// eventually waits until cond holds; the deadline only guards a hang.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, what, cond)
}

// withinJitter reports whether d is step ±10% (Next is kept to the
// millisecond).
func withinJitter(d, step time.Duration) bool {
	return d >= step-step/10-time.Millisecond && d <= step+step/10
}
