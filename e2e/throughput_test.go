package e2e

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"sendpool/internal/sandbox"
)

// benchDelivery is every configuration's [delivery]: fewer workers than
// the default, as a test machine has few cores for the nodes, FerretDB and
// the sinks together.
const benchDelivery = "workers = 16"

// benchLease is the clusters' lease: the default's order (minutes), not
// the 5 s that takeover tests use, under which a node still reporting a
// large batch loses its tail to the other node and both deliver it.
const benchLease = "lease_for = \"2m\""

// TestThroughput measures delivered messages per second, the same way for
// one node on SQLite, one node on FerretDB+Redis and two nodes on
// FerretDB+Redis: N messages submitted by 8 concurrent clients (spread over
// the nodes), timed from the first submission to the last arrival at the
// sinks. It is a measurement, not a check: it runs only when
// SENDPOOL_THROUGHPUT=N is set (e.g. 500), and reports with t.Logf.
// SENDPOOL_THROUGHPUT_LOGS=DIR keeps each node's log there, rewritten every
// 2 s, so a run that stalls and is killed still leaves them.
func TestThroughput(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SENDPOOL_THROUGHPUT"))
	if n <= 0 {
		t.Skip("a measurement: set SENDPOOL_THROUGHPUT=N to run it")
	}
	domains := map[string]string{"one.test": "127.0.0.31", "two.test": "127.0.0.32"}
	for i, c := range []struct {
		name  string
		nodes int
		multi bool
	}{
		{"1 node, SQLite + memory", 1, false},
		{"1 node, FerretDB + Redis", 1, true},
		{"2 nodes, FerretDB + Redis", 2, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var nodes []*env
			if c.multi {
				a, b := newCluster(t, domains, 10+i, benchDelivery+"\n"+benchLease)
				nodes = []*env{a, b}[:c.nodes]
			} else {
				nodes = []*env{newEnv(t, domains, benchDelivery)}
			}
			for k, e := range nodes {
				p := e.serve()
				if dir := os.Getenv("SENDPOOL_THROUGHPUT_LOGS"); dir != "" {
					keepLog(t, p, fmt.Sprintf("%s/node%d-%d.log", dir, i, k))
				}
			}
			nodes[0].addAccount("shop1", "pw-shop1-secret", "shop1.test")
			var sinks []*sandbox.Sink
			for d := range domains {
				sinks = append(sinks, nodes[0].world.Sink(d))
			}
			start := time.Now()
			var wg sync.WaitGroup
			for w := range 8 {
				e := nodes[w%len(nodes)]
				wg.Go(func() {
					var ids []int
					for i := w; i < n; i += 8 {
						ids = append(ids, i)
					}
					if err := submitMany(e.smtp, "shop1", "pw-shop1-secret", ids, "t%05d", []string{"one.test", "two.test"}); err != nil {
						t.Errorf("submit: %v", err)
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			accepted := time.Since(start)
			// Distinct messages count, not arrivals: a delivery made twice
			// (a lease that ran out before its report) is no throughput.
			var last time.Time
			var seen map[string]int
			waitFor(t, 10*time.Minute, "every message delivered", func() bool {
				got := 0
				last = time.Time{}
				for _, s := range sinks {
					k, at := s.Received()
					got += k
					if at.After(last) {
						last = at
					}
				}
				if got < n {
					return false
				}
				seen = received(sinks...)
				return len(seen) >= n
			})
			dups := 0
			for _, k := range seen {
				dups += k - 1
			}
			took := last.Sub(start)
			t.Logf("%s: %d messages, accepted in %v (%.0f msg/s), delivered in %v: %.1f delivered msg/s, %d duplicates",
				c.name, n, accepted.Round(time.Millisecond), float64(n)/accepted.Seconds(),
				took.Round(time.Millisecond), float64(n)/took.Seconds(), dups)
		})
	}
}

// keepLog writes p's output to path every 2 s until the test ends.
func keepLog(t *testing.T, p *proc, path string) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		for {
			os.WriteFile(path, []byte(p.out.String()), 0o644)
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Second):
			}
		}
	}()
}
