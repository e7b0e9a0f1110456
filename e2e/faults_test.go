package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
)

// faultConfig keeps a faulty receiver's hold on a delivery short: a group
// of deliveries is given up after max_group_time (the RFC 5321 timeouts
// are minutes), and retried a second later.
const faultConfig = `retry = ["1s"]
max_group_time = "3s"`

// TestFaultReceivers (issue 13): a receiver misbehaves while mail for it
// and for a healthy receiver is accepted. The healthy one's mail keeps
// flowing while the fault lasts; once the receiver recovers (its rules
// cleared) every accepted message arrives within 30 s, exactly once;
// duplicates are allowed in one case only, "accepted-then-reset": the
// receiver takes the message and resets the connection before its reply,
// so the relay, not knowing, sends it again (one copy a broken
// connection, no more). The hung receivers never take the message.
func TestFaultReceivers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rule sandbox.Rule
	}{
		// A byte every 10 s: the banner would take minutes.
		{"tarpit", sandbox.Rule{Stage: sandbox.StageGreeting, Tarpit: 10 * time.Second}},
		// The DATA command sent, no reply ever.
		{"hang-after-data-command", sandbox.Rule{Stage: sandbox.StageData, Hang: true}},
		// The data sent, no reply ever.
		{"hang-after-data", sandbox.Rule{Stage: sandbox.StageEOD, Hang: true}},
		// The data taken, then a TCP reset instead of the reply.
		{"accepted-then-reset", sandbox.Rule{Stage: sandbox.StageEOD, Drop: true, Keep: true, Reset: true}},
		// 354, the first line of data, then a TCP reset.
		{"reset-mid-data", sandbox.Rule{Stage: sandbox.StageData, Drop: true, Reset: true}},
		// 421 from the banner on: the service is closing.
		{"421-everything", sandbox.Rule{Reply: "421 4.3.2 Service not available, closing channel", Drop: true}},
		// "250-" lines without end, from the banner on.
		{"endless-reply", sandbox.Rule{Endless: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			faultRun(t, tc.rule)
		})
	}
}

func faultRun(t *testing.T, rule sandbox.Rule) {
	e := newEnv(t, map[string]string{"bad.test": "127.0.0.21", "good.test": "127.0.0.22"}, faultConfig)
	bad, good := e.world.Sink("bad.test"), e.world.Sink("good.test")
	bad.SetRules(rule)
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")

	const n = 10 // for each receiver; the healthy one gets as many more mid-fault
	send := func(d string, from, to int) {
		for i := from; i < to; i++ {
			id, rcpt := fmt.Sprintf("%s-%02d", d, i), "user@"+d+".test"
			if err := submit(e.smtp, "shop1", "pw-shop1-secret", "s@shop1.test", []string{rcpt}, message("s@shop1.test", rcpt, id)); err != nil {
				t.Fatalf("submit %s: %v", id, err)
			}
		}
	}
	send("bad", 0, n)
	send("good", 0, n)
	faultStart := time.Now()
	// The faulty receiver is tried more than once (retries after the
	// first attempts failed or were given up), and meanwhile the healthy
	// one's mail flows, including what is accepted well into the fault.
	waitFor(t, 20*time.Second, "retries to the faulty receiver", func() bool { return len(bad.Conns()) > 1 && time.Since(faultStart) > 4*time.Second })
	send("good", n, 2*n)
	midFault := time.Now()
	waitFor(t, 10*time.Second, "the healthy receiver's mail during the fault", func() bool { return len(good.Messages()) >= 2*n })
	healthy := time.Since(midFault)
	taken := len(bad.Messages()) // copies whose reply was lost
	if taken != 0 && !rule.Keep {
		t.Fatalf("the faulty receiver took %d messages during the fault", taken)
	}
	attempts := len(bad.Conns())

	bad.SetRules()
	recovered := time.Now()
	var first time.Duration
	// Delivered, as the relay sees it (a 250 read), 3n in all; the sink's
	// count would include the copies taken without a reply (Rule.Keep).
	delivered := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := e.api().QueueStats(ctx)
		if err != nil {
			t.Logf("queue stats: %v", err)
		}
		return st[queue.StatusDelivered]
	}
	waitFor(t, 30*time.Second, "every accepted message after recovery", func() bool {
		got := delivered() - 2*n
		if got > 0 && first == 0 {
			first = time.Since(recovered)
		}
		return got >= n && len(bad.Messages()) >= n
	})
	all := time.Since(recovered)
	time.Sleep(300 * time.Millisecond) // a late duplicate would show
	dups := 0
	for name, s := range map[string]*sandbox.Sink{"bad": bad, "good": good} {
		seen := map[string]int{}
		for _, id := range messageIDs(s) {
			seen[id]++
		}
		sent := n
		if name == "good" {
			sent = 2 * n
		}
		for i := range sent {
			id := fmt.Sprintf("%s-%02d", name, i)
			if seen[id] == 0 {
				t.Errorf("%s lost", id)
			}
			if seen[id] > 1 {
				dups += seen[id] - 1
				if !rule.Keep || name == "good" {
					t.Errorf("%s delivered %d times", id, seen[id])
				}
			}
		}
	}
	// Each copy taken without a reply broke its connection: no more
	// duplicates than connections to the faulty receiver (those still
	// open at recovery included), and at least those taken in the fault.
	if conns := len(bad.Conns()); rule.Keep && (dups < taken || dups > conns) {
		t.Errorf("%d duplicates: want from %d (taken during the fault) to %d (connections)", dups, taken, conns)
	}
	t.Logf("%s: %d to the faulty receiver, %d to the healthy one (the last %d delivered in %v, mid-fault); %d connections to the faulty receiver during it; after recovery first delivery in %v, all in %v; %d duplicates",
		t.Name(), n, 2*n, n, healthy.Round(time.Millisecond), attempts, first.Round(time.Millisecond), all.Round(time.Millisecond), dups)
}
