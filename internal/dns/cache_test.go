package dns

import (
	"fmt"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"sendpool/internal/sandbox"
	"sendpool/internal/testclock"
)

func TestCacheHonoursTTL(t *testing.T) {
	s := newServer(t)
	s.SetTTL(60)
	s.SetMX("cached.test", sandbox.MXRecord{Host: "mx.cached.test", Pref: 10})
	clk := testclock.New()
	c := newClient(t, Options{Now: clk.Now}, s.Addr())

	lookup := func() {
		t.Helper()
		if mxs, err := c.LookupMX(t.Context(), "CACHED.test"); err != nil || len(mxs) != 1 {
			t.Fatalf("LookupMX: %v, %v", mxs, err)
		}
	}
	lookup()
	lookup()
	if n := s.Queries("cached.test", mdns.TypeMX); n != 1 {
		t.Fatalf("server asked %d times, want 1", n)
	}
	clk.Add(59 * time.Second)
	lookup()
	if n := s.Queries("cached.test", mdns.TypeMX); n != 1 {
		t.Fatalf("after 59s: server asked %d times, want 1", n)
	}
	clk.Add(time.Second)
	lookup()
	if n := s.Queries("cached.test", mdns.TypeMX); n != 2 {
		t.Fatalf("after 60s: server asked %d times, want 2", n)
	}
}

func TestCacheTTLCap(t *testing.T) {
	s := newServer(t)
	s.SetTTL(86400)
	s.SetA("long.test", "127.0.0.1")
	clk := testclock.New()
	c := newClient(t, Options{Now: clk.Now, MaxTTL: 5 * time.Minute}, s.Addr())

	lookup := func() {
		t.Helper()
		if _, err := c.LookupIP(t.Context(), "long.test"); err != nil {
			t.Fatal(err)
		}
	}
	lookup()
	clk.Add(5*time.Minute - time.Second)
	lookup()
	if n := s.Queries("long.test", mdns.TypeA); n != 1 {
		t.Fatalf("before the cap: server asked %d times, want 1", n)
	}
	clk.Add(time.Second)
	lookup()
	if n := s.Queries("long.test", mdns.TypeA); n != 2 {
		t.Fatalf("at the 5m cap of a 1-day TTL: server asked %d times, want 2", n)
	}
}

func TestCacheZeroTTLNotCached(t *testing.T) {
	s := newServer(t)
	s.SetTTL(0)
	s.SetA("volatile.test", "127.0.0.1")
	c := newClient(t, Options{Now: testclock.New().Now}, s.Addr())
	for range 2 {
		if _, err := c.LookupIP(t.Context(), "volatile.test"); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Queries("volatile.test", mdns.TypeA); n != 2 {
		t.Errorf("server asked %d times, want 2", n)
	}
}

func TestNegativeCaching(t *testing.T) {
	s := newServer(t) // SOA minimum 300s: the client's 30s applies
	clk := testclock.New()
	c := newClient(t, Options{Now: clk.Now}, s.Addr())

	nx := func() {
		t.Helper()
		if _, err := c.LookupTXT(t.Context(), "absent.test"); !IsNotFound(err) {
			t.Fatalf("err %v, want NotFound", err)
		}
	}
	nx()
	nx()
	if n := s.Queries("absent.test", mdns.TypeTXT); n != 1 {
		t.Fatalf("NXDOMAIN: server asked %d times, want 1", n)
	}
	// The cached NXDOMAIN is served even once the name exists, until it ends.
	s.SetTXT("absent.test", "now here")
	clk.Add(29 * time.Second)
	nx()
	clk.Add(time.Second)
	if txts, err := c.LookupTXT(t.Context(), "absent.test"); err != nil || len(txts) != 1 {
		t.Fatalf("after 30s: %v, %v", txts, err)
	}
	if n := s.Queries("absent.test", mdns.TypeTXT); n != 2 {
		t.Fatalf("server asked %d times, want 2", n)
	}

	// NODATA is cached the same way.
	s.SetA("addronly.test", "127.0.0.1")
	for range 2 {
		if _, err := c.LookupTXT(t.Context(), "addronly.test"); !IsNotFound(err) {
			t.Fatalf("NODATA: err %v", err)
		}
	}
	if n := s.Queries("addronly.test", mdns.TypeTXT); n != 1 {
		t.Fatalf("NODATA: server asked %d times, want 1", n)
	}
}

func TestNegativeCachingCappedBySOA(t *testing.T) {
	s := newServer(t)
	s.SetNegativeTTL(10)
	clk := testclock.New()
	c := newClient(t, Options{Now: clk.Now}, s.Addr())
	for range 2 {
		c.LookupMX(t.Context(), "short.test")
	}
	if n := s.Queries("short.test", mdns.TypeMX); n != 1 {
		t.Fatalf("server asked %d times, want 1", n)
	}
	clk.Add(10 * time.Second)
	c.LookupMX(t.Context(), "short.test")
	if n := s.Queries("short.test", mdns.TypeMX); n != 2 {
		t.Fatalf("after the SOA's 10s: server asked %d times, want 2", n)
	}
}

// recordingCache is a Cache that remembers the TTLs it was given.
type recordingCache struct {
	mu   sync.Mutex
	ttls map[string]time.Duration
	vals map[string][]byte
}

func (r *recordingCache) Get(key string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.vals[key]
	return v, ok
}

func (r *recordingCache) Set(key string, value []byte, ttl time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ttls[key] = ttl
	r.vals[key] = value
}

func TestCustomCacheGetsTTLs(t *testing.T) {
	s := newServer(t)
	s.SetTTL(120)
	s.SetNegativeTTL(20)
	s.SetA("ttl.test", "127.0.0.1")
	rc := &recordingCache{ttls: map[string]time.Duration{}, vals: map[string][]byte{}}
	c := newClient(t, Options{Cache: rc, Now: testclock.New().Now}, s.Addr())
	c.LookupMX(t.Context(), "ttl.test") // MX NODATA, then A and AAAA
	c.LookupMX(t.Context(), "gone.test")

	want := map[string]time.Duration{
		"dns:MX:ttl.test.":   20 * time.Second,
		"dns:A:ttl.test.":    120 * time.Second,
		"dns:AAAA:ttl.test.": 20 * time.Second,
		"dns:MX:gone.test.":  20 * time.Second,
	}
	for key, ttl := range want {
		if got, ok := rc.ttls[key]; !ok || got != ttl {
			t.Errorf("%s: ttl %v (set %v), want %v", key, got, ok, ttl)
		}
	}
	if len(rc.ttls) != len(want) {
		t.Errorf("cache holds %v, want only %v", rc.ttls, want)
	}
}

// The expiry inside a value holds even if a shared cache keeps it longer.
func TestCachedValueExpiresByItself(t *testing.T) {
	s := newServer(t)
	s.SetTTL(30)
	s.SetA("stale.test", "127.0.0.1")
	rc := &recordingCache{ttls: map[string]time.Duration{}, vals: map[string][]byte{}} // never forgets
	clk := testclock.New()
	c := newClient(t, Options{Cache: rc, Now: clk.Now}, s.Addr())
	c.LookupIP(t.Context(), "stale.test")
	clk.Add(31 * time.Second)
	c.LookupIP(t.Context(), "stale.test")
	if n := s.Queries("stale.test", mdns.TypeA); n != 2 {
		t.Errorf("server asked %d times, want 2", n)
	}
}

func TestMemoryCache(t *testing.T) {
	clk := testclock.New()
	mc := NewMemoryCache(3, clk.Now)
	for i := range 4 {
		mc.Set(fmt.Sprint(i), []byte{byte(i)}, time.Minute)
		if i == 2 {
			mc.Get("0") // 0 is now the most recently used; 1 goes first
		}
	}
	if mc.Len() != 3 {
		t.Errorf("Len %d, want 3", mc.Len())
	}
	if _, ok := mc.Get("1"); ok {
		t.Error("least recently used entry kept")
	}
	for _, k := range []string{"0", "2", "3"} {
		if v, ok := mc.Get(k); !ok || fmt.Sprint(v[0]) != k {
			t.Errorf("%s: %v, %v", k, v, ok)
		}
	}
	clk.Add(time.Minute)
	if _, ok := mc.Get("0"); ok {
		t.Error("expired entry returned")
	}
	mc.Set("2", []byte{9}, 0)
	if _, ok := mc.Get("2"); ok {
		t.Error("Set with ttl 0 kept the entry")
	}
}
