package mongo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"

	"sendpool/internal/config"
	"sendpool/internal/queue"
	"sendpool/internal/webhook"
)

// commandCounter counts the commands a client sends, by name, while on.
// The driver's own (handshakes, heartbeats, session ends) are left out:
// they do not grow with the mail.
type commandCounter struct {
	on     atomic.Bool
	mu     sync.Mutex
	byName map[string]int
}

func (c *commandCounter) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		switch strings.ToLower(e.CommandName) {
		case "hello", "ismaster", "ping", "endsessions", "saslstart", "saslcontinue", "buildinfo":
			return
		}
		if !c.on.Load() {
			return
		}
		name := e.CommandName
		if coll, ok := e.Command.Index(0).Value().StringValueOK(); ok {
			name += " " + coll
		}
		c.mu.Lock()
		c.byName[name]++
		c.mu.Unlock()
	}}
}

func (c *commandCounter) total() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c.byName)) {
		n += c.byName[k]
		parts = append(parts, fmt.Sprintf("%s %d", k, c.byName[k]))
	}
	return n, strings.Join(parts, ", ")
}

// maxCommandsPerMessage is what TestCommandsPerDeliveredMessage allows.
const maxCommandsPerMessage = 4

// deliverAll is a courier that delivers everything, one after the other,
// and says each success as it happens, as the real courier does (the
// scheduler records them while the group goes on: queue/early.go).
type deliverAll struct{ tried atomic.Int64 }

func (c *deliverAll) Deliver(ctx context.Context, group []*queue.Lease) []queue.Result {
	rs := make([]queue.Result, len(group))
	for i, l := range group {
		rs[i] = queue.Result{Verdict: queue.VerdictDelivered,
			Attempt: queue.Attempt{Time: time.Now(), SourceIP: "127.0.0.2", MX: "mx.test", Response: "250 ok"}}
		queue.Delivered(ctx, l, rs[i])
		time.Sleep(time.Millisecond) // a fast receiver's round trip
	}
	c.tried.Add(int64(len(group)))
	return rs
}

// TestCommandsPerDeliveredMessage counts the commands a node sends to the
// store for a batch of mail, as the node does it: intake's sessions put
// messages at once (through the webhook emitter, which writes each
// accepted event), the scheduler with the default delivery settings
// leases them, a courier delivers them, and the outcomes' events and the
// results are recorded. Commands per delivered message is what two nodes
// on one server pay for each message; it is kept at most
// maxCommandsPerMessage (issue 15).
func TestCommandsPerDeliveredMessage(t *testing.T) {
	const (
		messages = 200
		sessions = 20
		domains  = 10
	)
	counter := &commandCounter{byName: map[string]int{}}
	s := openTest(t, Options{Monitor: counter.monitor()})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	emitter := webhook.NewEmitter(webhook.EmitterConfig{Store: s,
		Endpoints: webhook.NewEndpoints(s, config.WebhookEndpointCache)})
	defer emitter.Close()
	q := emitter.Queue(s)
	defaults := config.Default().Delivery

	counter.on.Store(true)
	var wg sync.WaitGroup
	errs := make(chan error, messages)
	for g := range sessions {
		wg.Go(func() {
			for i := g; i < messages; i += sessions {
				m := &queue.Message{Account: "acme", From: "a@acme.test", Body: []byte("Subject: hi\r\n\r\nhi\r\n"),
					Recipients: []string{fmt.Sprintf("r%d@d%d.test", i, i%domains)}}
				if err := q.Put(ctx, m); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Put: %v", err)
	}
	puts, putBreakdown := counter.total()

	courier := &deliverAll{}
	var final atomic.Int64
	done := make(chan struct{})
	sched := queue.NewScheduler(s, courier, queue.SchedulerConfig{
		Owner: "node-1", Workers: defaults.Workers, PerConnection: defaults.MessagesPerConnection,
		LeaseFor: defaults.LeaseFor.D(), OnOutcomes: emitter.Outcomes,
		OnFinal: func(context.Context, *queue.Lease, queue.Outcome, queue.Result) {
			if final.Add(1) == messages {
				close(done)
			}
		},
	})
	sctx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- sched.Run(sctx) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("delivered %d of %d", final.Load(), messages)
	}
	counter.on.Store(false)
	stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}

	n, breakdown := counter.total()
	per := float64(n) / messages
	t.Logf("%d messages: %d commands, %.2f a delivered message (put %d: %s; all: %s)",
		messages, n, per, puts, putBreakdown, breakdown)
	if c, _ := s.Counts(ctx); c[queue.StatusDelivered] != messages {
		t.Fatalf("counts %v, want %d delivered", c, messages)
	}
	if per > maxCommandsPerMessage {
		t.Errorf("%.2f commands a delivered message, want at most %d", per, maxCommandsPerMessage)
	}
}

// TestRoundWithAFailedPut: in a round where one Put fails (its message id
// is taken: a Put tried again after one that did commit), the round's last
// message is never written (that Put fails too), so the failed Put's
// deliveries never pass for committed; the Put that succeeded is delivered
// once commitWait has passed, by its own message.
func TestRoundWithAFailedPut(t *testing.T) {
	ctx := t.Context()
	clock := time.Now()
	s := openTest(t, Options{Now: func() time.Time { return clock }})
	taken := &queue.Message{From: "a@acme.test", Body: []byte("hi"), Recipients: []string{"x@one.test"}}
	if err := s.Put(ctx, taken); err != nil {
		t.Fatal(err)
	}
	var round []*pendingPut
	for i, m := range []*queue.Message{
		{From: "a@acme.test", Body: []byte("ok"), Recipients: []string{"a@one.test"}},
		{ID: taken.ID, From: "a@acme.test", Body: []byte("again"), Recipients: []string{"x@one.test", "y@one.test"}},
		{From: "a@acme.test", Body: []byte("last"), Recipients: []string{"d@one.test"}},
	} {
		if m.ID == "" {
			m.ID = queue.NewID(clock.Add(time.Duration(i) * time.Millisecond))
		}
		p, err := s.pending(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		round = append(round, p)
	}
	s.writeRound(round)
	if round[0].err != nil || round[1].err == nil || round[2].err == nil {
		t.Fatalf("round errors %v, %v, %v; want nil, the taken id's, the last's", round[0].err, round[1].err, round[2].err)
	}
	leased := func(want string) {
		t.Helper()
		ls, err := s.Lease(ctx, "n", clock, time.Minute, 10)
		if err != nil || len(ls) != 1 || ls[0].ID != want {
			var got []string
			for _, l := range ls {
				got = append(got, l.ID)
			}
			t.Fatalf("Lease = %v, %v; want %s alone", got, err, want)
		}
	}
	leased(taken.ID + "/0") // within commitWait: the others wait for their round
	clock = clock.Add(commitWait + time.Second)
	leased(round[0].msg.ID + "/0")
}
