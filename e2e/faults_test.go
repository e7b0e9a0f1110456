package e2e

import (
	"fmt"
	"testing"
	"time"

	"sendpool/internal/sandbox"
)

// faultConfig keeps a faulty receiver's hold on a delivery short: a group
// of deliveries is given up after max_group_time (the RFC 5321 timeouts
// are minutes), and retried a second later.
const faultConfig = `retry = ["1s"]
max_group_time = "4s"`

// TestFaultReceivers (issue 13): a receiver misbehaves while mail for it
// and for a healthy receiver is accepted. The healthy one's mail keeps
// flowing while the fault lasts; once the receiver recovers (its rules
// cleared) every accepted message arrives within 30 s, exactly once. No
// case here lets a receiver keep a message whose reply the relay did not
// read (the hung receiver never takes the message), so no duplicate is
// allowed.
func TestFaultReceivers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rule sandbox.Rule
	}{
		// A byte every 10 s: the banner would take minutes.
		{"tarpit", sandbox.Rule{Stage: sandbox.StageGreeting, Tarpit: 10 * time.Second}},
		// The data sent, no reply ever.
		{"hang-after-data", sandbox.Rule{Stage: sandbox.StageEOD, Hang: true}},
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
	waitFor(t, 20*time.Second, "retries to the faulty receiver", func() bool { return len(bad.Conns()) > 1 && time.Since(faultStart) > 5*time.Second })
	send("good", n, 2*n)
	midFault := time.Now()
	waitFor(t, 10*time.Second, "the healthy receiver's mail during the fault", func() bool { return len(good.Messages()) >= 2*n })
	healthy := time.Since(midFault)
	if got := len(bad.Messages()); got != 0 {
		t.Fatalf("the faulty receiver took %d messages during the fault", got)
	}
	attempts := len(bad.Conns())

	bad.SetRules()
	recovered := time.Now()
	var first time.Duration
	waitFor(t, 30*time.Second, "every accepted message after recovery", func() bool {
		got := len(bad.Messages())
		if got > 0 && first == 0 {
			first = time.Since(recovered)
		}
		return got >= n
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
				t.Errorf("%s delivered %d times", id, seen[id])
				dups += seen[id] - 1
			}
		}
	}
	t.Logf("%s: %d to the faulty receiver, %d to the healthy one (the last %d delivered in %v, mid-fault); %d connections to the faulty receiver during it; after recovery first delivery in %v, all in %v; %d duplicates",
		t.Name(), n, 2*n, n, healthy.Round(time.Millisecond), attempts, first.Round(time.Millisecond), all.Round(time.Millisecond), dups)
}
