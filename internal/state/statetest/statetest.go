// Package statetest is the conformance suite every state.State passes: the
// in-memory state of one node and the Redis state of many run the same
// tests (DESIGN "Seams").
//
// Times given to Take and Count are whole milliseconds, which every
// implementation keeps exactly. Cache expiry runs on the real clock.
package statetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"sendpool/internal/state"
)

// Run runs the suite; open returns a new, empty state for each subtest (and
// arranges its cleanup with t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) state.State) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s state.State)
	}{
		{"TakeAllowsUpToMax", testUpToMax},
		{"WindowExactAtBoundary", testBoundary},
		{"NoBurstAcrossFixedBuckets", testNoBurst},
		{"RefusedTakeRecordsNothing", testRefusedRecordsNothing},
		{"EveryWindowChecked", testWindows},
		{"FreesWhenEnoughAgeOut", testFrees},
		{"KeysAreIndependent", testKeys},
		{"CountInWindow", testCount},
		{"ConcurrentTakeExact", testConcurrentTake},
		{"SuspendListResume", testSuspensions},
		{"SuspensionReplacedPerScope", testSuspensionReplaced},
		{"SuspensionsExpire", testSuspensionsExpire},
		{"ResumeByScope", testResumeScope},
		{"CacheGetSet", testCache},
		{"CacheTTL", testCacheTTL},
		{"RecordKeepsNewest", testRecord},
		{"RecordTTL", testRecordTTL},
		{"ConcurrentRecordBounded", testConcurrentRecord},
		{"SeenKeepsMostRecent", testSeenKeep},   // seen.go
		{"SeenDropsOlderThanTTL", testSeenOld},  // seen.go
		{"SeenTTL", testSeenTTL},                // seen.go
		{"ConcurrentSeenBounded", testSeenConc}, // seen.go
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// base is a whole millisecond.
var base = time.UnixMilli(1_760_000_000_000)

func take(t *testing.T, s state.State, key string, n int, now time.Time, ws ...state.Window) state.Decision {
	t.Helper()
	d, err := s.Take(t.Context(), key, n, now, ws)
	if err != nil {
		t.Fatalf("Take(%s, %d, %v): %v", key, n, now.Sub(base), err)
	}
	return d
}

func count(t *testing.T, s state.State, key string, now time.Time, w time.Duration) int {
	t.Helper()
	n, err := s.Count(t.Context(), key, now, w)
	if err != nil {
		t.Fatalf("Count(%s): %v", key, err)
	}
	return n
}

func refused(t *testing.T, d state.Decision, w state.Window, count int, frees time.Time) {
	t.Helper()
	if d.Allowed || d.Window != w || d.Count != count || !d.Frees.Equal(frees) {
		t.Fatalf("decision = %+v (frees %v), want refused by %v holding %d, frees %v",
			d, d.Frees.Sub(base), w, count, frees.Sub(base))
	}
}

func testUpToMax(t *testing.T, s state.State) {
	w := state.Window{Size: time.Minute, Max: 3}
	for i := range 3 {
		if d := take(t, s, "k", 1, base.Add(time.Duration(i)*time.Second), w); !d.Allowed {
			t.Fatalf("take %d refused: %+v", i+1, d)
		}
	}
	refused(t, take(t, s, "k", 1, base.Add(3*time.Second), w), w, 3, base.Add(time.Minute))
}

// testBoundary: an event stays in a window of Size until exactly Size later.
func testBoundary(t *testing.T, s state.State) {
	w := state.Window{Size: time.Minute, Max: 1}
	if !take(t, s, "k", 1, base, w).Allowed {
		t.Fatal("first take refused")
	}
	refused(t, take(t, s, "k", 1, base.Add(time.Minute-time.Millisecond), w), w, 1, base.Add(time.Minute))
	if d := take(t, s, "k", 1, base.Add(time.Minute), w); !d.Allowed {
		t.Fatalf("take at exactly Size later refused: %+v", d)
	}
}

// testNoBurst: fixed buckets would let 2×Max through around a bucket edge;
// a sliding window lets Max through in any span of Size.
func testNoBurst(t *testing.T, s state.State) {
	w := state.Window{Size: time.Minute, Max: 5}
	edge := base.Add(time.Minute - time.Second)
	allowed := 0
	for i := range 10 {
		if take(t, s, "k", 1, edge.Add(time.Duration(i)*200*time.Millisecond), w).Allowed {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("%d of 10 allowed within 2s across a minute boundary, want 5", allowed)
	}
}

func testRefusedRecordsNothing(t *testing.T, s state.State) {
	w := state.Window{Size: time.Minute, Max: 3}
	take(t, s, "k", 2, base, w)
	refused(t, take(t, s, "k", 2, base.Add(time.Second), w), w, 2, base.Add(time.Minute))
	if n := count(t, s, "k", base.Add(time.Second), time.Minute); n != 2 {
		t.Fatalf("count after a refused take of 2 = %d, want 2", n)
	}
	if !take(t, s, "k", 1, base.Add(2*time.Second), w).Allowed {
		t.Fatal("take of the one left refused")
	}
}

// testWindows: every window is checked, and a refusal by one records
// nothing in any.
func testWindows(t *testing.T, s state.State) {
	minute := state.Window{Size: time.Minute, Max: 2}
	hour := state.Window{Size: time.Hour, Max: 3}
	if !take(t, s, "k", 2, base, minute, hour).Allowed {
		t.Fatal("take 2 refused")
	}
	refused(t, take(t, s, "k", 1, base.Add(time.Second), minute, hour), minute, 2, base.Add(time.Minute))
	if !take(t, s, "k", 1, base.Add(time.Minute), minute, hour).Allowed {
		t.Fatal("take after the minute refused")
	}
	refused(t, take(t, s, "k", 1, base.Add(2*time.Minute), minute, hour), hour, 3, base.Add(time.Hour))
	if n := count(t, s, "k", base.Add(2*time.Minute), time.Hour); n != 3 {
		t.Fatalf("hour count = %d, want 3", n)
	}
}

// testFrees: Frees is when enough events age out for the n asked for.
func testFrees(t *testing.T, s state.State) {
	w := state.Window{Size: time.Minute, Max: 3}
	for i := range 3 {
		take(t, s, "k", 1, base.Add(time.Duration(i)*10*time.Second), w)
	}
	// Two more need the two oldest gone: the second one leaves at 10s+1m.
	refused(t, take(t, s, "k", 2, base.Add(30*time.Second), w), w, 3, base.Add(70*time.Second))
	if d := take(t, s, "k", 2, base.Add(70*time.Second), w); !d.Allowed {
		t.Fatalf("take at Frees refused: %+v", d)
	}
}

func testKeys(t *testing.T, s state.State) {
	w := state.Window{Size: time.Minute, Max: 1}
	if !take(t, s, "a", 1, base, w).Allowed || !take(t, s, "b", 1, base, w).Allowed {
		t.Fatal("a take on a fresh key refused")
	}
	if take(t, s, "a", 1, base, w).Allowed {
		t.Fatal("second take on a allowed")
	}
}

func testCount(t *testing.T, s state.State) {
	w := state.Window{Size: time.Hour, Max: 100}
	for i := range 5 {
		take(t, s, "k", 1, base.Add(time.Duration(i)*time.Minute), w)
	}
	now := base.Add(4 * time.Minute)
	for _, c := range []struct {
		window time.Duration
		want   int
	}{{time.Hour, 5}, {4 * time.Minute, 4}, {90 * time.Second, 2}, {time.Millisecond, 1}} {
		if n := count(t, s, "k", now, c.window); n != c.want {
			t.Errorf("Count over %v = %d, want %d", c.window, n, c.want)
		}
	}
	if n := count(t, s, "nothing", now, time.Hour); n != 0 {
		t.Errorf("Count of an unknown key = %d", n)
	}
}

// testConcurrentTake: many takers at once, exactly Max get through.
func testConcurrentTake(t *testing.T, s state.State) {
	const takers, limit = 60, 17
	w := state.Window{Size: time.Minute, Max: limit}
	var wg sync.WaitGroup
	results := make([]bool, takers)
	errs := make([]error, takers)
	for i := range takers {
		wg.Go(func() {
			d, err := s.Take(t.Context(), "k", 1, base.Add(time.Duration(i)*time.Millisecond), []state.Window{w})
			results[i], errs[i] = d.Allowed, err
		})
	}
	wg.Wait()
	allowed := 0
	for i := range takers {
		if errs[i] != nil {
			t.Fatalf("Take: %v", errs[i])
		}
		if results[i] {
			allowed++
		}
	}
	if allowed != limit {
		t.Fatalf("%d of %d concurrent takes allowed, want exactly %d", allowed, takers, limit)
	}
	if n := count(t, s, "k", base.Add(time.Second), time.Minute); n != limit {
		t.Fatalf("count = %d, want %d", n, limit)
	}
}

func susp(ip, scope string, until time.Time) state.Suspension {
	return state.Suspension{IP: ip, Scope: scope, Reason: "blocked " + ip + " at " + scope,
		Source: "receiver", Since: base, Until: until}
}

func list(t *testing.T, s state.State, now time.Time) []string {
	t.Helper()
	l, err := s.Suspensions(t.Context(), now)
	if err != nil {
		t.Fatalf("Suspensions: %v", err)
	}
	var out []string
	for _, sp := range l {
		out = append(out, fmt.Sprintf("%s/%s/%s", sp.IP, sp.Scope, sp.Reason))
	}
	return out
}

func suspend(t *testing.T, s state.State, sp state.Suspension) {
	t.Helper()
	if err := s.Suspend(t.Context(), sp); err != nil {
		t.Fatalf("Suspend: %v", err)
	}
}

func testSuspensions(t *testing.T, s state.State) {
	if got := list(t, s, base); len(got) != 0 {
		t.Fatalf("fresh state has suspensions %v", got)
	}
	until := base.Add(time.Hour)
	suspend(t, s, susp("127.0.0.3", "outlook", until))
	suspend(t, s, susp("127.0.0.2", state.ScopePool, until))
	suspend(t, s, susp("127.0.0.3", state.ScopePool, until))
	want := []string{"127.0.0.2/pool/blocked 127.0.0.2 at pool", "127.0.0.3/outlook/blocked 127.0.0.3 at outlook",
		"127.0.0.3/pool/blocked 127.0.0.3 at pool"}
	if got := list(t, s, base); !slices.Equal(got, want) {
		t.Fatalf("Suspensions = %v, want %v (by IP, then scope)", got, want)
	}
	l, err := s.Suspensions(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	if sp := l[0]; sp.Source != "receiver" || !sp.Since.Equal(base) || !sp.Until.Equal(until) {
		t.Fatalf("suspension = %+v, want every field kept", sp)
	}
	if err := s.Resume(t.Context(), "127.0.0.2", state.ScopePool); err != nil {
		t.Fatal(err)
	}
	if got := list(t, s, base); !slices.Equal(got, want[1:]) {
		t.Fatalf("after Resume: %v, want %v", got, want[1:])
	}
}

func testSuspensionReplaced(t *testing.T, s state.State) {
	suspend(t, s, susp("127.0.0.2", state.ScopePool, base.Add(time.Hour)))
	sp := susp("127.0.0.2", state.ScopePool, base.Add(2*time.Hour))
	sp.Reason = "again"
	suspend(t, s, sp)
	if got := list(t, s, base.Add(90*time.Minute)); !slices.Equal(got, []string{"127.0.0.2/pool/again"}) {
		t.Fatalf("Suspensions = %v, want the replacement alone", got)
	}
}

func testSuspensionsExpire(t *testing.T, s state.State) {
	suspend(t, s, susp("127.0.0.2", state.ScopePool, base.Add(time.Minute)))
	suspend(t, s, susp("127.0.0.3", state.ScopePool, base.Add(time.Hour)))
	if got := list(t, s, base.Add(time.Minute-time.Millisecond)); len(got) != 2 {
		t.Fatalf("just before Until: %v, want both", got)
	}
	if got := list(t, s, base.Add(time.Minute)); len(got) != 1 || got[0] != "127.0.0.3/pool/blocked 127.0.0.3 at pool" {
		t.Fatalf("at Until: %v, want only 127.0.0.3", got)
	}
	if got := list(t, s, base.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("after every Until: %v", got)
	}
}

func testResumeScope(t *testing.T, s state.State) {
	until := base.Add(time.Hour)
	for _, sc := range []string{state.ScopePool, "outlook", "yahoo"} {
		suspend(t, s, susp("127.0.0.2", sc, until))
	}
	suspend(t, s, susp("127.0.0.20", state.ScopePool, until))
	if err := s.Resume(t.Context(), "127.0.0.2", "yahoo"); err != nil {
		t.Fatal(err)
	}
	if got := list(t, s, base); len(got) != 3 || slices.Contains(got, "127.0.0.2/yahoo/blocked 127.0.0.2 at yahoo") {
		t.Fatalf("after Resume(yahoo): %v", got)
	}
	if err := s.Resume(t.Context(), "127.0.0.2", ""); err != nil {
		t.Fatal(err)
	}
	if got := list(t, s, base); !slices.Equal(got, []string{"127.0.0.20/pool/blocked 127.0.0.20 at pool"}) {
		t.Fatalf("after Resume of every scope: %v, want 127.0.0.20's alone", got)
	}
	if err := s.Resume(t.Context(), "127.0.0.9", ""); err != nil {
		t.Fatalf("Resume of an IP not suspended: %v", err)
	}
}

func testCache(t *testing.T, s state.State) {
	ctx := t.Context()
	if _, ok, err := s.Get(ctx, "missing"); ok || err != nil {
		t.Fatalf("Get of a missing key: ok %v, %v", ok, err)
	}
	value := []byte{0, 1, 2, 255, '\r', '\n'}
	if err := s.Set(ctx, "k", value, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.Get(ctx, "k"); !ok || err != nil || !slices.Equal(got, value) {
		t.Fatalf("Get = %v, %v, %v; want %v", got, ok, err, value)
	}
	if err := s.Set(ctx, "k", []byte("new"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := s.Get(ctx, "k"); !ok || string(got) != "new" {
		t.Fatalf("Get after overwrite = %q, %v", got, ok)
	}
	if err := s.Set(ctx, "zero", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(ctx, "zero"); ok {
		t.Fatal("a value set with no ttl was kept")
	}
}

func testCacheTTL(t *testing.T, s state.State) {
	ctx := t.Context()
	if err := s.Set(ctx, "short", []byte("x"), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "long", []byte("y"), time.Hour); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, ok, _ := s.Get(ctx, "short"); ok {
		t.Fatal("value still there after its ttl")
	}
	if _, ok, _ := s.Get(ctx, "long"); !ok {
		t.Fatal("value with an hour's ttl gone")
	}
}

func recent(t *testing.T, s state.State, key string, n int) []string {
	t.Helper()
	vs, err := s.Recent(t.Context(), key, n)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

func testRecord(t *testing.T, s state.State) {
	ctx := t.Context()
	if got := recent(t, s, "none", 10); len(got) != 0 {
		t.Fatalf("Recent of a missing list = %q", got)
	}
	if err := s.Record(ctx, "l", 3, time.Minute, []byte("a")); err != nil {
		t.Fatal(err)
	}
	// A batch is oldest first: "d" is the newest of all.
	if err := s.Record(ctx, "l", 3, time.Minute, []byte("b"), []byte("c"), []byte("d")); err != nil {
		t.Fatal(err)
	}
	if got, want := recent(t, s, "l", 10), []string{"d", "c", "b"}; !slices.Equal(got, want) {
		t.Fatalf("Recent = %q, want %q (newest first, at most keep)", got, want)
	}
	if got, want := recent(t, s, "l", 2), []string{"d", "c"}; !slices.Equal(got, want) {
		t.Fatalf("Recent(2) = %q, want %q", got, want)
	}
	if err := s.Record(ctx, "other", 3, time.Minute, []byte{0, '\r', '\n', 255}); err != nil {
		t.Fatal(err)
	}
	if got := recent(t, s, "other", 10); len(got) != 1 || got[0] != "\x00\r\n\xff" {
		t.Fatalf("Recent(other) = %q: lists mixed up or bytes changed", got)
	}
}

func testRecordTTL(t *testing.T, s state.State) {
	ctx := t.Context()
	if err := s.Record(ctx, "short", 5, 50*time.Millisecond, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, "long", 5, time.Hour, []byte("y")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if got := recent(t, s, "short", 5); len(got) != 0 {
		t.Fatalf("list still there after its ttl: %q", got)
	}
	if got := recent(t, s, "long", 5); len(got) != 1 {
		t.Fatalf("list with an hour's ttl = %q", got)
	}
}

func testConcurrentRecord(t *testing.T, s state.State) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				if err := s.Record(t.Context(), "c", 50, time.Minute, fmt.Appendf(nil, "%d-%d", g, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := recent(t, s, "c", 1000); len(got) != 50 {
		t.Fatalf("%d entries after 160 concurrent records with keep 50", len(got))
	}
}
