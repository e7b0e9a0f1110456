package mongo

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"sendpool/internal/queue"
)

// TestOwnRoundsNotRead: a node leasing what it put itself knows its
// rounds committed without reading their messages; what another node put
// costs a read of each round's last message, as before. Of new mail, a
// node leases its own first, even when another node's is older; the
// other's comes next.
func TestOwnRoundsNotRead(t *testing.T) {
	counter := &commandCounter{byName: map[string]int{}}
	a := openTest(t, Options{Monitor: counter.monitor()})
	b := openSecond(t, a)
	put := func(s *Store, n int, tag string) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				m := &queue.Message{Account: "acme", From: "a@acme.test", Body: []byte("Subject: hi\r\n\r\nhi\r\n"),
					Recipients: []string{fmt.Sprintf("%s%d@d.test", tag, i)}}
				if err := s.Put(t.Context(), m); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	lease := func(max int) (ls []queue.Lease, reads int) {
		counter.mu.Lock()
		clear(counter.byName)
		counter.mu.Unlock()
		counter.on.Store(true)
		ls, err := a.Lease(t.Context(), "node-a", time.Now(), time.Minute, max)
		counter.on.Store(false)
		if err != nil {
			t.Fatal(err)
		}
		counter.mu.Lock()
		defer counter.mu.Unlock()
		return ls, counter.byName["find messages"]
	}
	whose := func(ls []queue.Lease) map[string]int {
		n := map[string]int{}
		for _, l := range ls {
			local, _, _ := strings.Cut(l.Recipient, "@")
			n[strings.TrimRightFunc(local, unicode.IsDigit)]++
		}
		return n
	}

	put(a, 20, "own")
	if ls, reads := lease(100); len(ls) != 20 || reads != 0 {
		t.Errorf("own mail: leased %d of 20 with %d message reads, want 0", len(ls), reads)
	}
	put(b, 20, "other")
	put(a, 20, "own")
	if ls, reads := lease(20); whose(ls)["own"] != 20 || reads == 0 {
		t.Errorf("own and another node's older mail, 20 leased: %v with %d message reads, want own 20 and one read a round of the other's", whose(ls), reads)
	}
	if ls, _ := lease(100); whose(ls)["other"] != 20 || len(ls) != 20 {
		t.Errorf("then: leased %v, want the other node's 20", whose(ls))
	}
}
