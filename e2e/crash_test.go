package e2e

import (
	"fmt"
	"testing"
	"time"

	"sendpool/internal/sandbox"
)

// TestCrashKill9: messages accepted (250), the process killed with SIGKILL
// before they were delivered — some waiting on a receiver that is down,
// some in flight on a connection to a receiver that stalls — then
// restarted: every accepted message is delivered, none lost.
func TestCrashKill9(t *testing.T) {
	e := newEnv(t, map[string]string{"slow.test": "127.0.0.21", "down.test": "127.0.0.22"},
		`retry = ["1s"]`)
	slow := e.world.Sink("slow.test")
	slow.SetRules(sandbox.Rule{Stage: sandbox.StageGreeting, Delay: time.Minute})
	e.world.Sink("down.test").Close() // nothing listens: connection refused

	p := e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	const n = 20
	for i := range n {
		for _, d := range []string{"slow.test", "down.test"} {
			id := fmt.Sprintf("%s-%02d", d[:4], i)
			to := "user@" + d
			if err := submit(e.smtp, "shop1", "pw-shop1-secret", "s@shop1.test", []string{to}, message("s@shop1.test", to, id)); err != nil {
				t.Fatalf("submit %s: %v", id, err)
			}
		}
	}
	// Deliveries to slow.test are in flight (connected, waiting for the
	// greeting); those to down.test were deferred.
	waitFor(t, 10*time.Second, "connections in flight to slow.test", func() bool { return len(slow.Conns()) > 0 })
	p.kill()
	if got := len(slow.Messages()); got != 0 {
		t.Fatalf("%d messages delivered before the crash; the test wants none", got)
	}

	slow.SetRules()
	down, err := e.world.AddDomain("down.test", "127.0.0.22")
	if err != nil {
		t.Fatal(err)
	}
	e.serve()
	waitFor(t, 30*time.Second, "every accepted message delivered", func() bool {
		return len(slow.Messages()) >= n && len(down.Messages()) >= n
	})
	time.Sleep(300 * time.Millisecond)
	for name, s := range map[string]*sandbox.Sink{"slow": slow, "down": down} {
		seen := map[string]int{}
		for _, id := range messageIDs(s) {
			seen[id]++
		}
		for i := range n {
			id := fmt.Sprintf("%s-%02d", name, i)
			if seen[id] == 0 {
				t.Errorf("%s lost", id)
			}
			if seen[id] > 1 {
				t.Errorf("%s delivered %d times", id, seen[id])
			}
		}
	}
}
