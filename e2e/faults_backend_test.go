package e2e

import (
	"testing"
	"time"

	"sendpool/internal/sandbox"
	"sendpool/internal/testenv"
)

// TestFaultBackendRestart (issue 13): two nodes on a Redis and a FerretDB
// of their own, under continuous submission; Redis (then, in its own
// run, FerretDB) is killed with SIGKILL and started again on the same port
// and data 5 s later. No accepted message is lost, a message
// accepted after the restart is delivered within 30 s of it, and so is
// every accepted message once the load stops (2 s after the restart). Duplicates are counted (a
// delivery whose result could not be recorded while the store was down
// is tried again once its lease lapses).
func TestFaultBackendRestart(t *testing.T) {
	t.Parallel()
	for _, which := range []string{"redis", "ferretdb"} {
		t.Run(which, func(t *testing.T) {
			t.Parallel()
			rs := testenv.StartRedisAOF(t)
			fd := testenv.StartFerretDB(t)
			stop, start := rs.Stop, rs.Start
			if which == "ferretdb" {
				stop, start = fd.Stop, fd.Start
			}
			backendRestartRun(t, fd.URI(), rs.URL(), stop, start)
		})
	}
}

// outage is how long the killed server stays down.
const outage = 5 * time.Second

func backendRestartRun(t *testing.T, mongoURI, redisURL string, stop, start func()) {
	domains := map[string]string{"one.test": "127.0.0.51", "two.test": "127.0.0.52"}
	a, b := newClusterOn(t, mongoURI, redisURL, domains, `retry = ["1s"]`)
	var sinks []*sandbox.Sink
	for d := range domains {
		s := a.world.Sink(d)
		s.SetRules(sandbox.Rule{Stage: sandbox.StageEOD, Delay: 20 * time.Millisecond})
		sinks = append(sinks, s)
	}
	a.serve()
	b.serve()
	a.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	l := startLoad(t, []string{a.smtp, b.smtp}, 2, "be", "one.test", "two.test")
	waitFor(t, 20*time.Second, "deliveries under load", func() bool { return len(received(sinks...)) >= 50 })

	before, failedBefore := l.counts()
	stop()
	time.Sleep(outage)
	during, failedDuring := l.counts()
	start()
	recovered := time.Now()
	k, _ := l.counts()
	waitFor(t, 30*time.Second, "a message accepted after the restart, delivered", func() bool {
		id, ok := l.idAt(k)
		return ok && received(sinks...)[id] > 0
	})
	resumed := time.Since(recovered)
	time.Sleep(2 * time.Second) // load after the restart
	ids := l.ids()
	_, failed := l.counts()
	stopped := time.Now()
	waitFor(t, 30*time.Second-time.Since(recovered), "every accepted message, 30 s after the restart",
		func() bool { return allArrived(ids, received(sinks...)) })
	drained := time.Since(stopped)
	time.Sleep(300 * time.Millisecond)
	dups, unacked := lossReport(t, ids, received(sinks...))
	t.Logf("%s: %d messages accepted (%d during the %v outage, %d submissions refused or cut then, %d in all); a message accepted after the restart delivered %v after it; all delivered %v after the load stopped; %d duplicates, %d delivered without the client seeing the 250",
		t.Name(), len(ids), during-before, outage, failedDuring-failedBefore, failed, resumed.Round(time.Millisecond), drained.Round(time.Millisecond), dups, unacked)
	if dups > len(ids)/10 {
		t.Errorf("%d duplicates of %d messages: more than 10%%", dups, len(ids))
	}
}
