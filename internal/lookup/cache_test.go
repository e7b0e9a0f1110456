package lookup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sendpool/internal/testclock"
)

// clock is the test clock counting its reads: Get reads it once, under
// the cache's lock, each time it looks a key up, so a test knows when every
// caller has either started a load or joined one.
type clock struct {
	*testclock.Clock
	reads atomic.Int64
}

func newClock() *clock { return &clock{Clock: testclock.New()} }

func (c *clock) Now() time.Time {
	c.reads.Add(1)
	return c.Clock.Now()
}

func (c *clock) readCount() int { return int(c.reads.Load()) }

var errNotFound = errors.New("not found")

// counter is a load that counts its calls and returns "v<n>".
type counter struct{ n atomic.Int64 }

func (c *counter) load(context.Context) (string, error) {
	return fmt.Sprintf("v%d", c.n.Add(1)), nil
}

func get(t *testing.T, c *Cache[string], key string, load func(context.Context) (string, error)) string {
	t.Helper()
	v, err := c.Get(t.Context(), key, load)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return v
}

func TestCacheHitMissExpiry(t *testing.T) {
	clk := newClock()
	c := New(Options[string]{TTL: 5 * time.Second, Now: clk.Now})
	var n counter
	if v := get(t, c, "a", n.load); v != "v1" {
		t.Fatalf("miss: %s, want v1", v)
	}
	clk.Add(5*time.Second - time.Nanosecond)
	if v := get(t, c, "a", n.load); v != "v1" || n.n.Load() != 1 {
		t.Fatalf("hit just before expiry: %s after %d loads, want v1 after 1", v, n.n.Load())
	}
	if v := get(t, c, "b", n.load); v != "v2" {
		t.Fatalf("another key: %s, want v2", v)
	}
	clk.Add(time.Nanosecond)
	if v := get(t, c, "a", n.load); v != "v3" {
		t.Fatalf("at expiry: %s, want a new load (v3)", v)
	}
	if v := get(t, c, "a", n.load); v != "v3" {
		t.Fatalf("after the reload: %s, want v3 cached", v)
	}
}

func TestCacheErrors(t *testing.T) {
	clk := newClock()
	c := New(Options[string]{TTL: time.Minute, Now: clk.Now, Keep: func(err error) bool { return errors.Is(err, errNotFound) }})
	var loads int
	notFound := func(context.Context) (string, error) { loads++; return "", errNotFound }
	for range 3 {
		if _, err := c.Get(t.Context(), "gone", notFound); !errors.Is(err, errNotFound) {
			t.Fatalf("Get: %v, want errNotFound", err)
		}
	}
	if loads != 1 {
		t.Fatalf("a kept error was loaded %d times, want 1", loads)
	}
	loads = 0
	broken := func(context.Context) (string, error) { loads++; return "", errors.New("store down") }
	for range 3 {
		if _, err := c.Get(t.Context(), "x", broken); err == nil {
			t.Fatal("Get of a failing load: no error")
		}
	}
	if loads != 3 {
		t.Fatalf("a failing load ran %d times, want 3 (failures are not cached)", loads)
	}
}

func TestCacheForget(t *testing.T) {
	clk := newClock()
	c := New(Options[string]{TTL: time.Hour, Now: clk.Now})
	var n counter
	get(t, c, "a", n.load)
	get(t, c, "b", n.load)
	c.Forget("a")
	if v := get(t, c, "a", n.load); v != "v3" {
		t.Fatalf("after Forget: %s, want a new load (v3)", v)
	}
	if v := get(t, c, "b", n.load); v != "v2" {
		t.Fatalf("another key after Forget: %s, want v2 still cached", v)
	}
}

// TestCacheForgetDuringLoad: a load that began before a write (and Forget)
// may return what the write replaced: its callers get it, but it is not
// cached, and a Get after Forget does not join it.
func TestCacheForgetDuringLoad(t *testing.T) {
	clk := newClock()
	c := New(Options[string]{TTL: time.Hour, Now: clk.Now})
	started, release := make(chan struct{}), make(chan struct{})
	old := make(chan string)
	go func() {
		v, _ := c.Get(context.Background(), "a", func(context.Context) (string, error) {
			close(started)
			<-release
			return "old", nil
		})
		old <- v
	}()
	<-started
	c.Forget("a")
	if v := get(t, c, "a", func(context.Context) (string, error) { return "new", nil }); v != "new" {
		t.Fatalf("Get after Forget during a load: %s, want its own load (new)", v)
	}
	close(release)
	if v := <-old; v != "old" {
		t.Fatalf("the earlier caller got %s, want old", v)
	}
	if v := get(t, c, "a", func(context.Context) (string, error) { return "other", nil }); v != "new" {
		t.Fatalf("cached after both loads: %s, want new (the forgotten load is not kept)", v)
	}
}

// TestCacheSingleflight: twenty callers missing one key at once make one
// load, and all get its value.
func TestCacheSingleflight(t *testing.T) {
	clk := newClock()
	c := New(Options[string]{TTL: time.Hour, Now: clk.Now})
	release := make(chan struct{})
	var loads atomic.Int64
	load := func(context.Context) (string, error) {
		loads.Add(1)
		<-release
		return "v", nil
	}
	const callers = 20
	var wg sync.WaitGroup
	got := make([]string, callers)
	for i := range callers {
		wg.Go(func() { got[i], _ = c.Get(context.Background(), "a", load) })
	}
	// Each caller reads the clock once under the lock and in the same hold
	// starts the load or joins it.
	for clk.readCount() < callers {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if loads.Load() != 1 {
		t.Fatalf("%d loads for %d concurrent misses, want 1", loads.Load(), callers)
	}
	for i, v := range got {
		if v != "v" {
			t.Fatalf("caller %d got %q", i, v)
		}
	}
}

// TestCacheLeaderCanceled: when the caller whose load the others wait for
// gives up, its context error is not theirs: one of them loads again.
func TestCacheLeaderCanceled(t *testing.T) {
	clk := newClock()
	c := New(Options[string]{TTL: time.Hour, Now: clk.Now})
	lctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	lead := make(chan error)
	go func() {
		_, err := c.Get(lctx, "a", func(ctx context.Context) (string, error) {
			close(started)
			<-ctx.Done()
			return "", ctx.Err()
		})
		lead <- err
	}()
	<-started
	res := make(chan string)
	go func() {
		v, _ := c.Get(context.Background(), "a", func(context.Context) (string, error) { return "v", nil })
		res <- v
	}()
	for clk.readCount() < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-lead; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v, want context.Canceled", err)
	}
	if v := <-res; v != "v" {
		t.Fatalf("waiter got %q, want its own load's v", v)
	}
}

func TestCacheWaiterContext(t *testing.T) {
	c := New(Options[string]{TTL: time.Hour})
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	go c.Get(context.Background(), "a", func(context.Context) (string, error) {
		close(started)
		<-release
		return "v", nil
	})
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Get(ctx, "a", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter with a canceled context: %v", err)
	}
}

func TestCacheBounded(t *testing.T) {
	clk := newClock()
	c := New(Options[string]{TTL: time.Hour, Max: 3, Now: clk.Now})
	var n counter
	for i := range 10 {
		get(t, c, fmt.Sprint(i), n.load)
		if c.Len() > 3 {
			t.Fatalf("%d entries, bound 3", c.Len())
		}
	}
	// Expired entries go first.
	clk.Add(2 * time.Hour)
	get(t, c, "fresh", n.load)
	if c.Len() != 1 {
		t.Fatalf("%d entries after adding one to a cache of expired ones, want 1", c.Len())
	}
}

// TestCacheFullFreesATenth: a cache full of fresh entries frees a tenth of
// its bound at once, so that the next stores need no scan of the map.
func TestCacheFullFreesATenth(t *testing.T) {
	c := New(Options[string]{TTL: time.Hour, Max: 100, Now: newClock().Now})
	var n counter
	for i := range 100 {
		get(t, c, fmt.Sprint(i), n.load)
	}
	if c.Len() != 100 {
		t.Fatalf("%d entries, want 100", c.Len())
	}
	get(t, c, "one more", n.load)
	if c.Len() != 91 {
		t.Fatalf("%d entries after a store into a full cache, want 91 (a tenth freed, one added)", c.Len())
	}
	for i := range 9 {
		get(t, c, fmt.Sprint("more", i), n.load)
	}
	if c.Len() != 100 {
		t.Fatalf("%d entries, want 100", c.Len())
	}
}

func TestCacheClone(t *testing.T) {
	c := New(Options[[]byte]{TTL: time.Hour, Clone: func(b []byte) []byte { return append([]byte(nil), b...) }})
	load := func(context.Context) ([]byte, error) { return []byte("abc"), nil }
	v, _ := c.Get(t.Context(), "a", load)
	v[0] = 'x'
	w, _ := c.Get(t.Context(), "a", load)
	w[1] = 'y'
	if u, _ := c.Get(t.Context(), "a", load); string(u) != "abc" {
		t.Fatalf("cached value changed through a caller's copy: %q", u)
	}
}

func TestCacheOff(t *testing.T) {
	c := New(Options[string]{TTL: 0})
	var n counter
	get(t, c, "a", n.load)
	if v := get(t, c, "a", n.load); v != "v2" {
		t.Fatalf("TTL 0: %s, want every Get to load", v)
	}
}
