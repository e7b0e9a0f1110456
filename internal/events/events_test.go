package events

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"sendpool/internal/intake"
)

// TestRingAndFilter: newest first, filtered, bounded to the ring's size.
func TestRingAndFilter(t *testing.T) {
	l := New(5)
	for i := range 8 {
		l.Add(Event{Kind: KindAccepted, Account: fmt.Sprint("a", i%2), ID: fmt.Sprint(i)})
	}
	all := l.List(Filter{})
	if len(all) != 5 || all[0].ID != "7" || all[4].ID != "3" {
		t.Fatalf("ring: %+v", all)
	}
	if got := l.List(Filter{Account: "a1", Limit: 2}); len(got) != 2 || got[0].ID != "7" || got[1].ID != "5" {
		t.Fatalf("filtered: %+v", got)
	}
}

// TestObserve: a refusal is recorded with its reply, check, rules and
// score; an acceptance with its id.
func TestObserve(t *testing.T) {
	l := New(10)
	f := []intake.Finding{{Check: "heuristics", Rule: "GTUBE", Score: 1000}}
	l.Observe(t.Context(), intake.Decision{Time: time.Now(), Account: "shop", Findings: f,
		ClientIP: netip.MustParseAddr("127.0.0.9"), Err: intake.Spam("scan", "score 1000")})
	l.Observe(t.Context(), intake.Decision{Time: time.Now(), Account: "shop", ID: "m1"})
	got := l.List(Filter{})
	if got[1].Kind != KindRefused || got[1].Reply != "550 5.7.1 Message refused as spam" || got[1].Check != "scan" ||
		got[1].Score != 1000 || got[1].Rules[0].Rule != "GTUBE" || got[1].ClientIP != "127.0.0.9" {
		t.Fatalf("refused: %+v", got[1])
	}
	if got[0].Kind != KindAccepted || got[0].ID != "m1" {
		t.Fatalf("accepted: %+v", got[0])
	}
}
