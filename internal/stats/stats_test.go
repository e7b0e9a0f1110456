package stats

import (
	"context"
	"testing"
	"time"

	"sendpool/internal/state/memory"
	"sendpool/internal/testclock"
)

// Two nodes' counts over two hours add up per IP × provider and hour; an
// account's days likewise; the queue series keeps each hour's deepest
// sample.
func TestCountsAddUpAcrossNodesAndHours(t *testing.T) {
	clock := testclock.New()
	st := memory.New(clock.Now)
	depth := 7
	nodes := []*Recorder{
		New(Config{State: st, Now: clock.Now, Depth: func(context.Context) (int, error) { return depth, nil }}),
		New(Config{State: st, Now: clock.Now}),
	}
	for _, n := range nodes {
		n.Attempt("127.0.0.2", "gmail", Delivered)
		n.Attempt("127.0.0.2", "gmail", Deferred)
		n.Attempt("127.0.0.3", "outlook", Blocked)
		n.Final("shop", false)
		n.Final("shop", true)
		n.Flush(t.Context())
	}
	clock.Add(time.Hour)
	depth = 3
	nodes[0].Attempt("127.0.0.2", "gmail", Delivered)
	nodes[0].Attempt("", "gmail", Delivered) // no attempt made: not counted
	nodes[0].Flush(t.Context())

	r := &Reader{State: st, Now: clock.Now}
	ips, err := r.IPs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(ips) != 2 || ips[0].IP != "127.0.0.2" || ips[0].Provider != "gmail" {
		t.Fatalf("series %+v", ips)
	}
	if got := ips[0].Hours[Hours-2]; got != (Counts{Delivered: 2, Deferred: 2}) {
		t.Fatalf("127.0.0.2 gmail an hour ago: %+v", got)
	}
	if got := ips[0].Hours[Hours-1]; got != (Counts{Delivered: 1}) {
		t.Fatalf("127.0.0.2 gmail now: %+v", got)
	}
	if got := ips[1].Hours[Hours-2]; got != (Counts{Blocked: 2}) {
		t.Fatalf("127.0.0.3 outlook: %+v", got)
	}
	q, _, err := r.Queue(t.Context())
	if err != nil || q[Hours-2] != 7 || q[Hours-1] != 3 {
		t.Fatalf("queue %v %v", q[Hours-2:], err)
	}
	days, err := r.Account(t.Context(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	total := Day{}
	for _, d := range days {
		total.Delivered += d.Delivered
		total.Bounced += d.Bounced
	}
	if total.Delivered != 2 || total.Bounced != 2 {
		t.Fatalf("shop's days add up to %+v", total)
	}
}
