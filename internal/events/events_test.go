package events

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"sendpool/internal/history"
	"sendpool/internal/intake"
	"sendpool/internal/state/memory"
)

func newLog(t *testing.T, cfg Config) *Log {
	t.Helper()
	if cfg.State == nil {
		cfg.State = memory.New(nil)
	}
	l := New(cfg)
	t.Cleanup(func() { l.Close() })
	return l
}

// TestListFilterAndBound: newest first, filtered, bounded to what the
// global and per-account lists keep.
func TestListFilterAndBound(t *testing.T) {
	l := newLog(t, Config{Keep: 5, KeepPerAccount: 3})
	t0 := time.Now()
	for i := range 8 {
		l.Add(Event{Time: t0.Add(time.Duration(i) * time.Second), Kind: KindAccepted, Account: fmt.Sprint("a", i%2), ID: fmt.Sprint(i)})
	}
	all, err := l.List(t.Context(), Filter{})
	if err != nil || len(all) != 5 || all[0].ID != "7" || all[4].ID != "3" {
		t.Fatalf("global: %+v, %v", all, err)
	}
	// a1's own list keeps its last 3 (7, 5, 3), though the global one has
	// only 7, 5 and 3 of them too.
	if got, err := l.List(t.Context(), Filter{Account: "a1"}); err != nil || len(got) != 3 || got[0].ID != "7" || got[2].ID != "3" {
		t.Fatalf("account a1: %+v, %v", got, err)
	}
	if got, err := l.List(t.Context(), Filter{Account: "a0", Limit: 2}); err != nil || len(got) != 2 || got[0].ID != "6" || got[1].ID != "4" {
		t.Fatalf("account a0, limit 2: %+v, %v", got, err)
	}
	if got, err := l.List(t.Context(), Filter{ID: "4"}); err != nil || len(got) != 1 || got[0].Account != "a0" {
		t.Fatalf("by id: %+v, %v", got, err)
	}
	if got, err := l.List(t.Context(), Filter{Kind: KindRefused}); err != nil || len(got) != 0 {
		t.Fatalf("by kind: %+v, %v", got, err)
	}
}

// TestObserve: a refusal is recorded with its reply, check, rules and
// score; an acceptance with its id.
func TestObserve(t *testing.T) {
	l := newLog(t, Config{})
	f := []intake.Finding{{Check: "heuristics", Rule: "GTUBE", Score: 1000}}
	now := time.Now()
	l.Observe(t.Context(), intake.Decision{Time: now, Account: "shop", Findings: f,
		ClientIP: netip.MustParseAddr("127.0.0.9"), Err: intake.Spam("scan", "score 1000")})
	l.Observe(t.Context(), intake.Decision{Time: now.Add(time.Millisecond), Account: "shop", ID: "m1"})
	got, err := l.List(t.Context(), Filter{})
	if err != nil || len(got) != 2 {
		t.Fatalf("List: %+v, %v", got, err)
	}
	if got[1].Kind != KindRefused || got[1].Reply != "550 5.7.1 Message refused as spam" || got[1].Check != "scan" ||
		got[1].Score != 1000 || got[1].Rules[0].Rule != "GTUBE" || got[1].ClientIP != "127.0.0.9" {
		t.Fatalf("refused: %+v", got[1])
	}
	if got[0].Kind != KindAccepted || got[0].ID != "m1" {
		t.Fatalf("accepted: %+v", got[0])
	}
}

// TestSharedRecorder: a Log on a Recorder it was given leaves it open on
// Close; its events are written by that Recorder.
func TestSharedRecorder(t *testing.T) {
	st := memory.New(nil)
	rec := history.New(history.Config{State: st})
	defer rec.Close()
	l := New(Config{State: st, Recorder: rec})
	l.Add(Event{Time: time.Now(), Kind: KindHeld, Account: "shop"})
	l.Close()
	if got, err := l.List(t.Context(), Filter{Account: "shop"}); err != nil || len(got) != 1 || got[0].Kind != KindHeld {
		t.Fatalf("after Close of the Log: %+v, %v", got, err)
	}
}
