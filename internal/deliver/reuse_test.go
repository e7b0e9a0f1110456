package deliver

import (
	"context"
	"runtime"
	"testing"

	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
)

// oneIP keeps the world's pool to its first IP, so that every group picks
// the same source and may reuse the same connection.
func oneIP(w *world) { w.ips = w.ips[:1] }

// idleCount is how many idle sessions the courier keeps for mx.
func idleCount(c *Courier, mx string) int {
	c.idle.mu.Lock()
	defer c.idle.mu.Unlock()
	n := 0
	for k, list := range c.idle.conns {
		if k.mx == mx {
			n += len(list)
		}
	}
	return n
}

func TestReuseAcrossGroups(t *testing.T) {
	w := newWorld(t)
	oneIP(w)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	c := w.courier(func(cfg *Config) { cfg.MessagesPerConnection = 2 })

	wantVerdict(t, deliver(t, c, w.message("m1", "one\r\n", "a@gmail.test")), queue.VerdictDelivered)
	if n := idleCount(c, "mx.gmail.test"); n != 1 {
		t.Fatalf("%d idle connections after the first group, want 1", n)
	}
	wantVerdict(t, deliver(t, c, w.message("m2", "two\r\n", "b@gmail.test")), queue.VerdictDelivered)
	if n := len(s.Conns()); n != 1 {
		t.Errorf("two groups used %d connections, want 1 (reused)", n)
	}
	// messages_per_connection = 2 counts over the connection's life: the
	// third message needs a new one, and the spent one is not kept.
	if n := idleCount(c, "mx.gmail.test"); n != 0 {
		t.Errorf("%d idle connections after 2 messages with a cap of 2, want 0", n)
	}
	wantVerdict(t, deliver(t, c, w.message("m3", "three\r\n", "c@gmail.test")), queue.VerdictDelivered)
	if n := len(s.Conns()); n != 2 {
		t.Errorf("%d connections after the cap, want 2", n)
	}
	if n := len(s.Messages()); n != 3 {
		t.Errorf("%d messages at the sink, want 3", n)
	}
}

// A kept connection the receiver has closed meanwhile is not used: the
// next group gets a new one and its mail goes through.
func TestReuseSkipsClosedConnection(t *testing.T) {
	w := newWorld(t)
	oneIP(w)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	c := w.courier(nil)
	// The sink hangs up after accepting the first message.
	s.SetRules(sandbox.Rule{Stage: sandbox.StageEOD, Reply: "250 2.0.0 Ok, bye", Drop: true, Times: 1})

	wantVerdict(t, deliver(t, c, w.message("m1", "one\r\n", "a@gmail.test")), queue.VerdictDelivered)
	c.idle.mu.Lock()
	var kept *session
	for _, list := range c.idle.conns {
		kept = list[0].s
	}
	c.idle.mu.Unlock()
	if kept == nil {
		t.Fatal("the connection was not kept")
	}
	for i := 0; alive(kept); i++ {
		if i > 1_000_000 {
			t.Fatal("the sink's hang-up never reached the client")
		}
		runtime.Gosched()
	}
	res := deliver(t, c, w.message("m2", "two\r\n", "b@gmail.test"))
	wantVerdict(t, res, queue.VerdictDelivered)
	if n := len(s.Conns()); n != 2 {
		t.Errorf("%d connections, want 2 (the closed one replaced)", n)
	}
}

// A connection that broke is never kept.
func TestReuseNotAfterBreak(t *testing.T) {
	w := newWorld(t)
	oneIP(w)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	c := w.courier(nil)
	s.SetRules(sandbox.Rule{Stage: sandbox.StageEOD, Drop: true, Times: 1})
	wantVerdict(t, deliver(t, c, w.message("m1", "one\r\n", "a@gmail.test")), queue.VerdictDeferred)
	if n := idleCount(c, "mx.gmail.test"); n != 0 {
		t.Errorf("%d idle connections after a broken one, want 0", n)
	}
}

// An idle connection holds its slots, but never keeps a group waiting for
// them: a group that needs the slot from another source IP ends it.
func TestReuseIdleGivesWayToOtherIP(t *testing.T) {
	w := newWorld(t)
	w.ips = w.ips[:2]
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	c := w.courier(func(cfg *Config) { cfg.MaxConnsPerMX = 1 })

	res := deliver(t, c, w.message("m1", "one\r\n", "a@gmail.test"))
	wantVerdict(t, res, queue.VerdictDelivered)
	if n := idleCount(c, "mx.gmail.test"); n != 1 {
		t.Fatalf("%d idle connections, want 1", n)
	}
	// The pool prefers an IP not yet tried: the other one.
	m2 := w.message("m2", "two\r\n", "b@gmail.test")
	m2[0].TriedIPs = []string{res[0].Attempt.SourceIP}
	// Well under the idle time: a group stuck behind the idle connection
	// would come back unattempted.
	ctx, cancel := context.WithTimeout(context.Background(), idleTTL/2)
	defer cancel()
	res2 := c.Deliver(ctx, m2)
	wantVerdict(t, res2, queue.VerdictDelivered)
	if res2[0].Attempt.SourceIP == res[0].Attempt.SourceIP {
		t.Errorf("both from %s, want the other IP", res2[0].Attempt.SourceIP)
	}
	if n := len(s.Conns()); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
	if n := c.limits.perMX.inUse("mx.gmail.test"); n > 1 {
		t.Errorf("%d connections to the MX at once, cap 1", n)
	}
}
