package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// TestRelayEndToEnd: 50 messages submitted with AUTH to three domains with
// different MX sinks arrive exactly once each, from at least 3 of the 4
// pool IPs, each connection saying the EHLO name of its source IP.
func TestRelayEndToEnd(t *testing.T) {
	e := newEnv(t, map[string]string{
		"gmail.test": "127.0.0.11", "outlook.test": "127.0.0.12", "yahoo.test": "127.0.0.13",
	}, "")
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")

	domains := []string{"gmail.test", "outlook.test", "yahoo.test"}
	want := map[string]map[string]bool{} // domain → message ids
	for _, d := range domains {
		want[d] = map[string]bool{}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		d := domains[i%3]
		id := fmt.Sprintf("m%02d", i)
		want[d][id] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := "user" + id + "@" + d
			if err := submit(e.smtp, "shop1", "pw-shop1-secret", "sender@shop1.test", []string{to}, message("sender@shop1.test", to, id)); err != nil {
				errs <- fmt.Errorf("%s: %w", id, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	waitFor(t, 30*time.Second, "50 messages at the sinks", func() bool {
		n := 0
		for _, d := range domains {
			n += len(e.world.Sink(d).Messages())
		}
		return n >= 50
	})
	time.Sleep(300 * time.Millisecond) // let any duplicate show up

	ehlo := map[string]string{}
	for _, ip := range e.world.PoolIPs {
		ehlo[ip.Address] = ip.EHLO
	}
	used := map[string]bool{}
	for _, d := range domains {
		sink := e.world.Sink(d)
		got := map[string]int{}
		for _, id := range messageIDs(sink) {
			got[id]++
		}
		for id := range want[d] {
			if got[id] != 1 {
				t.Errorf("%s: message %s arrived %d times", d, id, got[id])
			}
		}
		if len(got) != len(want[d]) {
			t.Errorf("%s: got %d distinct messages, want %d", d, len(got), len(want[d]))
		}
		for _, c := range sink.Conns() {
			used[c.SourceIP] = true
			if w, ok := ehlo[c.SourceIP]; !ok || c.EHLO != w {
				t.Errorf("%s: connection from %s said EHLO %q, want %q", d, c.SourceIP, c.EHLO, w)
			}
		}
		for _, m := range sink.Messages() {
			if m.EHLO != ehlo[m.SourceIP] {
				t.Errorf("%s: message from %s with EHLO %q", d, m.SourceIP, m.EHLO)
			}
		}
	}
	if len(used) < 3 {
		t.Errorf("source IPs used: %v, want at least 3 of 4", used)
	}

	// The API shows each message delivered, with its attempt.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitFor(t, 10*time.Second, "all messages delivered in the API", func() bool {
		list, err := e.api().Messages(ctx, queue.Filter{Status: queue.StatusDelivered, Limit: 100})
		return err == nil && len(list) == 50
	})
	list, _ := e.api().Messages(ctx, queue.Filter{Limit: 1})
	m, err := e.api().Message(ctx, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Recipients) != 1 || len(m.Recipients[0].Attempts) != 1 {
		t.Fatalf("message detail: %+v", m)
	}
	a := m.Recipients[0].Attempts[0]
	if ehlo[a.SourceIP] == "" || a.MX == "" || a.MXAddr == "" || a.Response == "" || a.Time.IsZero() {
		t.Errorf("attempt not fully recorded: %+v", a)
	}
}
