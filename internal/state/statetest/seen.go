package statetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"sendpool/internal/state"
	"sendpool/internal/testclock"
)

// The Seen sets' tests take their times from the test clock (whole
// seconds at the real time, kept exactly by every implementation); their
// expiry runs on the real clock.

func lastSeen(t *testing.T, s state.State, key, member string) (time.Time, bool) {
	t.Helper()
	at, ok, err := s.LastSeen(t.Context(), key, member)
	if err != nil {
		t.Fatalf("LastSeen(%s, %s): %v", key, member, err)
	}
	return at, ok
}

func seen(t *testing.T, s state.State, key, member string, at time.Time, keep int, ttl time.Duration) {
	t.Helper()
	if err := s.Seen(t.Context(), key, member, at, keep, ttl); err != nil {
		t.Fatalf("Seen(%s, %s): %v", key, member, err)
	}
}

func wantSeen(t *testing.T, s state.State, key, member string, at time.Time) {
	t.Helper()
	got, ok := lastSeen(t, s, key, member)
	if !ok || !got.Equal(at) {
		t.Fatalf("LastSeen(%s, %s) = %v, %v; want %v", key, member, got, ok, at)
	}
}

func wantUnseen(t *testing.T, s state.State, key, member string) {
	t.Helper()
	if got, ok := lastSeen(t, s, key, member); ok {
		t.Fatalf("LastSeen(%s, %s) = %v; want not there", key, member, got)
	}
}

// testSeenKeep: each member once, at its latest sighting; past keep the
// least recently seen goes, not the least recently added.
func testSeenKeep(t *testing.T, s state.State) {
	t0 := testclock.New().Now()
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	wantUnseen(t, s, "acct", "a")
	seen(t, s, "acct", "a", sec(0), 3, time.Hour)
	seen(t, s, "acct", "b", sec(1), 3, time.Hour)
	seen(t, s, "acct", "2001:db8::/64", sec(2), 3, time.Hour)
	seen(t, s, "acct", "a", sec(3), 3, time.Hour)             // a again: refreshed, not added twice
	seen(t, s, "acct", "2001:db8::/64", sec(1), 3, time.Hour) // an older sighting does not move it back
	seen(t, s, "acct", "d", sec(4), 3, time.Hour)
	wantUnseen(t, s, "acct", "b")
	wantSeen(t, s, "acct", "a", sec(3))
	wantSeen(t, s, "acct", "2001:db8::/64", sec(2))
	wantSeen(t, s, "acct", "d", sec(4))
	wantUnseen(t, s, "other", "a")
}

// testSeenOld: a sighting drops the members seen ttl or more before it.
func testSeenOld(t *testing.T, s state.State) {
	t0 := testclock.New().Now()
	seen(t, s, "k", "old", t0, 10, time.Hour)
	seen(t, s, "k", "edge", t0.Add(time.Hour), 10, time.Hour)
	seen(t, s, "k", "new", t0.Add(2*time.Hour), 10, time.Hour)
	wantUnseen(t, s, "k", "old")
	wantUnseen(t, s, "k", "edge")
	wantSeen(t, s, "k", "new", t0.Add(2*time.Hour))
}

// testSeenTTL: the set goes ttl after its last Seen (on the real clock).
func testSeenTTL(t *testing.T, s state.State) {
	now := testclock.New().Now()
	seen(t, s, "short", "x", now, 5, 50*time.Millisecond)
	seen(t, s, "long", "y", now, 5, time.Hour)
	time.Sleep(200 * time.Millisecond)
	wantUnseen(t, s, "short", "x")
	wantSeen(t, s, "long", "y", now)
}

func testSeenConc(t *testing.T, s state.State) {
	now := testclock.New().Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				if err := s.Seen(t.Context(), "c", fmt.Sprintf("%d-%d", g, i), now.Add(time.Duration(i)*time.Second), 50, time.Hour); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	n := 0
	for g := range 8 {
		for i := range 20 {
			if _, ok := lastSeen(t, s, "c", fmt.Sprintf("%d-%d", g, i)); ok {
				n++
			}
		}
	}
	if n != 50 {
		t.Fatalf("%d members after 160 concurrent sightings with keep 50", n)
	}
}
