package e2e

import (
	"fmt"
	"net/smtp"
	"sync"
	"testing"
	"time"
)

// load submits messages without pause, from a few clients each on its own
// connection, through whichever of addrs answers (a node being killed and
// restarted refuses some, and a message whose reply was lost is not
// counted): it records the Message-IDs of those accepted, a 250 to the end
// of data read by the client.
type load struct {
	addrs   []string
	domains []string
	prefix  string
	stop    chan struct{}
	wg      sync.WaitGroup

	mu       sync.Mutex
	accepted []string
	failed   int // transactions or connections that failed
}

func startLoad(t *testing.T, addrs []string, clients int, prefix string, domains ...string) *load {
	t.Helper()
	l := &load{addrs: addrs, domains: domains, prefix: prefix, stop: make(chan struct{})}
	for w := range clients {
		l.wg.Go(func() { l.client(w) })
	}
	t.Cleanup(l.halt)
	return l
}

func (l *load) client(w int) {
	var c *smtp.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		if c == nil {
			var err error
			if c, err = loadDial(l.addrs[(w+i)%len(l.addrs)]); err != nil {
				l.fail()
				continue
			}
		}
		id := fmt.Sprintf("%s-%d-%05d", l.prefix, w, i)
		to := fmt.Sprintf("r%d@%s", i, l.domains[i%len(l.domains)])
		if err := sendOne(c, "s@shop1.test", to, message("s@shop1.test", to, id)); err != nil {
			c.Close()
			c = nil
			l.fail()
			continue
		}
		l.mu.Lock()
		l.accepted = append(l.accepted, id)
		l.mu.Unlock()
	}
}

func loadDial(addr string) (*smtp.Client, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return nil, err
	}
	if err := c.Hello("client.e2e.test"); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.Auth(smtp.PlainAuth("", "shop1", "pw-shop1-secret", "127.0.0.1")); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// fail counts a failure and pauses a moment: a node down refuses at once.
func (l *load) fail() {
	l.mu.Lock()
	l.failed++
	l.mu.Unlock()
	select {
	case <-l.stop:
	case <-time.After(50 * time.Millisecond):
	}
}

// counts says how many messages were accepted so far, and how many
// attempts failed.
func (l *load) counts() (accepted, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accepted), l.failed
}

// halt stops the clients and returns the accepted Message-IDs.
func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func (l *load) ids() []string {
	l.halt()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.accepted...)
}

// lossReport checks that every accepted message in ids arrived (seen:
// Message-ID → times received) and returns the duplicates, and how many
// received messages the client never saw accepted.
func lossReport(t *testing.T, ids []string, seen map[string]int) (dups, unacked int) {
	t.Helper()
	want := map[string]bool{}
	lost := 0
	for _, id := range ids {
		want[id] = true
		if seen[id] == 0 {
			lost++
			if lost <= 10 {
				t.Errorf("%s accepted and lost", id)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d accepted messages lost", lost, len(ids))
	}
	for id, n := range seen {
		dups += n - 1
		if !want[id] {
			unacked++
		}
	}
	return dups, unacked
}

// allArrived says whether every id in ids was received.
func allArrived(ids []string, seen map[string]int) bool {
	for _, id := range ids {
		if seen[id] == 0 {
			return false
		}
	}
	return true
}

// idAt returns the i-th accepted Message-ID, if there is one yet.
func (l *load) idAt(i int) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i >= len(l.accepted) {
		return "", false
	}
	return l.accepted[i], true
}
