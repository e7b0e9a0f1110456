// Package memory is the in-process state.State of a single node.
package memory

import (
	"context"
	"sort"
	"sync"
	"time"

	"sendpool/internal/state"
)

// State keeps everything in maps under one mutex.
type State struct {
	mu     sync.Mutex
	events map[string][]time.Time // key → event times, oldest first
	// gone is when each key of events is outside every window it was
	// taken with (its newest event plus the longest window): a key is
	// swept then, as Redis expires it, so that a stream of one-off keys
	// (a botnet's IPs) does not grow the map for ever.
	gone  map[string]time.Time
	susp  map[[2]string]state.Suspension
	cache map[string]entry
	lists map[string]list
	seen  map[string]seenSet
	now   func() time.Time // for cache, list and set expiry

	// When keys may be gone (expiry.go): counters in Take's time (gone),
	// the cache, lists and seen sets in now's, each key under its kind's
	// prefix.
	countersDue, ttlDue expiries
}

// sweepBatch bounds how many keys one call looks at to collect those that
// are gone (sweep). A call adds at most one key, so the sweep outpaces any
// stream of new keys, and no call pays for a backlog at once.
const sweepBatch = 64

// Prefixes of the kinds of keys in ttlDue.
const (
	dueCache = "c"
	dueList  = "l"
	dueSeen  = "s"
)

// seenSet is a Seen set: member → last seen, gone at expires.
type seenSet struct {
	members map[string]time.Time
	expires time.Time
}

// list is a Record list: newest first, gone at expires.
type list struct {
	items   [][]byte
	expires time.Time
}

type entry struct {
	value   []byte
	expires time.Time
}

// New returns an empty State. now is the clock of cache expiry (nil: time.Now).
func New(now func() time.Time) *State {
	if now == nil {
		now = time.Now
	}
	return &State{
		events: map[string][]time.Time{},
		gone:   map[string]time.Time{},
		susp:   map[[2]string]state.Suspension{},
		cache:  map[string]entry{},
		lists:  map[string]list{},
		seen:   map[string]seenSet{},
		now:    now,

		countersDue: newExpiries(),
		ttlDue:      newExpiries(),
	}
}

var _ state.State = (*State)(nil)

// Take implements state.State.
func (s *State) Take(ctx context.Context, key string, n int, now time.Time, windows []state.Window) (state.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	ev := s.prune(key, now, windows)
	for _, w := range windows {
		from := now.Add(-w.Size)
		i := sort.Search(len(ev), func(i int) bool { return ev[i].After(from) })
		count := len(ev) - i
		if count+n > w.Max {
			d := state.Decision{Window: w, Count: count}
			// The (count+n-Max)-th oldest event in the window must age out.
			if k := i + count + n - w.Max - 1; k < len(ev) && k >= i {
				d.Frees = ev[k].Add(w.Size)
			} else {
				d.Frees = now.Add(w.Size)
			}
			return d, nil
		}
	}
	for range n {
		ev = insertSorted(ev, now)
	}
	s.events[key] = ev
	if n > 0 {
		var longest time.Duration
		for _, w := range windows {
			longest = max(longest, w.Size)
		}
		if g := ev[len(ev)-1].Add(longest); g.After(s.gone[key]) {
			s.gone[key] = g
			s.countersDue.schedule(key, g)
		}
	}
	return state.Decision{Allowed: true}, nil
}

// sweep collects, looking at most at sweepBatch keys of each kind, the
// keys that are gone: counters whose events have left every window they
// were taken with (in Take's time, now; only Take sweeps them, as only it
// knows that time), then cache entries, lists and seen sets past their
// ttl (in the State's clock, sweepTTL). Every call that writes, and Get,
// sweeps: the work is spread over the calls that make keys, and a key
// goes within a call of its time once any backlog is through.
func (s *State) sweep(now time.Time) {
	for range sweepBatch {
		key, live, ok := s.countersDue.pop(now)
		if !ok {
			break
		}
		if live {
			s.collectCounter(key, now)
		}
	}
	s.sweepTTL(s.now())
}

func (s *State) sweepTTL(clock time.Time) {
	for range sweepBatch {
		key, live, ok := s.ttlDue.pop(clock)
		if !ok {
			return
		}
		if live {
			s.collectTTL(key, clock)
		}
	}
}

func (s *State) collectCounter(key string, now time.Time) {
	g, ok := s.gone[key]
	switch {
	case !ok:
	case !g.After(now):
		delete(s.gone, key)
		delete(s.events, key)
	default:
		s.countersDue.schedule(key, g) // taken again since
	}
}

func (s *State) collectTTL(due string, clock time.Time) {
	kind, key := due[:1], due[1:]
	var expires time.Time
	var ok bool
	switch kind {
	case dueCache:
		var e entry
		e, ok = s.cache[key]
		expires = e.expires
	case dueList:
		var l list
		l, ok = s.lists[key]
		expires = l.expires
	case dueSeen:
		var set seenSet
		set, ok = s.seen[key]
		expires = set.expires
	}
	switch {
	case !ok:
	case clock.Before(expires):
		s.ttlDue.schedule(due, expires) // written again since
	case kind == dueCache:
		delete(s.cache, key)
	case kind == dueList:
		delete(s.lists, key)
	case kind == dueSeen:
		delete(s.seen, key)
	}
}

// Count implements state.State.
func (s *State) Count(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := now.Add(-window)
	n := 0
	for _, t := range s.events[key] {
		if t.After(from) && !t.After(now) {
			n++
		}
	}
	return n, nil
}

// prune drops events older than the largest window, so a key's log stays
// bounded by its largest limit.
func (s *State) prune(key string, now time.Time, windows []state.Window) []time.Time {
	ev := s.events[key]
	var longest time.Duration
	for _, w := range windows {
		longest = max(longest, w.Size)
	}
	if longest == 0 {
		return ev
	}
	from := now.Add(-longest)
	i := sort.Search(len(ev), func(i int) bool { return ev[i].After(from) })
	if i > 0 {
		ev = append(ev[:0:0], ev[i:]...)
		s.events[key] = ev
	}
	return ev
}

func insertSorted(ev []time.Time, t time.Time) []time.Time {
	i := sort.Search(len(ev), func(i int) bool { return ev[i].After(t) })
	ev = append(ev, time.Time{})
	copy(ev[i+1:], ev[i:])
	ev[i] = t
	return ev
}

// Suspend implements state.State.
func (s *State) Suspend(ctx context.Context, sp state.Suspension) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.susp[[2]string{sp.IP, sp.Scope}] = sp
	return nil
}

// Resume implements state.State.
func (s *State) Resume(ctx context.Context, ip, scope string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.susp {
		if k[0] == ip && (scope == "" || k[1] == scope) {
			delete(s.susp, k)
		}
	}
	return nil
}

// Suspensions implements state.State.
func (s *State) Suspensions(ctx context.Context, now time.Time) ([]state.Suspension, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []state.Suspension
	for k, sp := range s.susp {
		if !now.Before(sp.Until) {
			delete(s.susp, k)
			continue
		}
		out = append(out, sp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].IP != out[j].IP {
			return out[i].IP < out[j].IP
		}
		return out[i].Scope < out[j].Scope
	})
	return out, nil
}

// Get implements state.State.
func (s *State) Get(ctx context.Context, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepTTL(s.now())
	e, ok := s.cache[key]
	if !ok || !s.now().Before(e.expires) {
		delete(s.cache, key)
		return nil, false, nil
	}
	return e.value, true, nil
}

// Set implements state.State.
func (s *State) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweepTTL(now)
	s.cache[key] = entry{value: append([]byte(nil), value...), expires: now.Add(ttl)}
	s.ttlDue.schedule(dueCache+key, now.Add(ttl))
	return nil
}

// Record implements state.State.
func (s *State) Record(ctx context.Context, key string, keep int, ttl time.Duration, values ...[]byte) error {
	if keep <= 0 || ttl <= 0 || len(values) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweepTTL(now)
	l := s.lists[key]
	if !now.Before(l.expires) {
		l.items = nil
	}
	items := make([][]byte, 0, min(keep, len(values)+len(l.items)))
	for i := len(values) - 1; i >= 0 && len(items) < keep; i-- {
		items = append(items, append([]byte(nil), values[i]...))
	}
	for _, v := range l.items {
		if len(items) == keep {
			break
		}
		items = append(items, v)
	}
	s.lists[key] = list{items: items, expires: now.Add(ttl)}
	s.ttlDue.schedule(dueList+key, now.Add(ttl))
	return nil
}

// Recent implements state.State.
func (s *State) Recent(ctx context.Context, key string, n int) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.lists[key]
	if !ok || !s.now().Before(l.expires) {
		delete(s.lists, key)
		return nil, nil
	}
	out := make([][]byte, 0, min(n, len(l.items)))
	for _, v := range l.items[:min(n, len(l.items))] {
		out = append(out, append([]byte(nil), v...))
	}
	return out, nil
}

// Seen implements state.State.
func (s *State) Seen(ctx context.Context, key, member string, at time.Time, keep int, ttl time.Duration) error {
	if keep <= 0 || ttl <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepTTL(s.now())
	set := s.seen[key]
	if set.members == nil || !s.now().Before(set.expires) {
		set.members = map[string]time.Time{}
	}
	if last, ok := set.members[member]; !ok || at.After(last) {
		set.members[member] = at
	}
	from := at.Add(-ttl)
	for m, t := range set.members {
		if !t.After(from) {
			delete(set.members, m)
		}
	}
	// Past keep, the least recently seen go; keep is small (a cap per
	// account), so a scan per extra member is cheap.
	for len(set.members) > keep {
		var oldest string
		var ot time.Time
		first := true
		for m, t := range set.members {
			if first || t.Before(ot) || t.Equal(ot) && m < oldest {
				oldest, ot, first = m, t, false
			}
		}
		delete(set.members, oldest)
	}
	set.expires = s.now().Add(ttl)
	s.seen[key] = set
	s.ttlDue.schedule(dueSeen+key, set.expires)
	return nil
}

// LastSeen implements state.State.
func (s *State) LastSeen(ctx context.Context, key, member string) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, ok := s.seen[key]
	if !ok || !s.now().Before(set.expires) {
		delete(s.seen, key)
		return time.Time{}, false, nil
	}
	t, ok := set.members[member]
	return t, ok, nil
}

// Close implements state.State.
func (s *State) Close() error { return nil }
