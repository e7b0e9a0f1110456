package dns

import (
	"container/list"
	"encoding/binary"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// Cache stores serialized answers for a while. The Client's default is a
// MemoryCache; a shared one (Redis) can stand in for it on many nodes.
// Values must be returned as they were given; a Cache may forget an entry
// at any time.
type Cache interface {
	Get(key string) (value []byte, ok bool)
	Set(key string, value []byte, ttl time.Duration)
}

// MemoryCache is an in-process Cache bounded in entries: the least recently
// used entry goes first when it is full, an expired one whenever it is
// asked for.
type MemoryCache struct {
	max int
	now func() time.Time

	mu    sync.Mutex
	order *list.List // of *memoryEntry, most recently used first
	items map[string]*list.Element
}

type memoryEntry struct {
	key     string
	value   []byte
	expires time.Time
}

// NewMemoryCache returns a cache of at most maxEntries entries (at least
// one) whose TTLs run on now (time.Now if nil).
func NewMemoryCache(maxEntries int, now func() time.Time) *MemoryCache {
	if now == nil {
		now = time.Now
	}
	return &MemoryCache{
		max:   max(1, maxEntries),
		now:   now,
		order: list.New(),
		items: make(map[string]*list.Element),
	}
}

// Get returns the value stored under key if it has not expired. The slice
// is shared with the cache: callers must not modify it.
func (c *MemoryCache) Get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*memoryEntry)
	if !c.now().Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, key)
		return nil, false
	}
	c.order.MoveToFront(el)
	return e.value, true
}

// Set stores value under key for ttl; a ttl of zero or less removes it.
func (c *MemoryCache) Set(key string, value []byte, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.Remove(el)
		delete(c.items, key)
	}
	if ttl <= 0 {
		return
	}
	e := &memoryEntry{key: key, value: value, expires: c.now().Add(ttl)}
	c.items[key] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*memoryEntry).key)
	}
}

// Len is the number of entries held, expired ones included until they are
// asked for or pushed out.
func (c *MemoryCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// cacheKey names the answer to one question.
func cacheKey(fqdn string, qtype uint16) string {
	return "dns:" + mdns.TypeToString[qtype] + ":" + fqdn
}

// encodeAnswer serializes a response with its expiry: 8 bytes of Unix
// nanoseconds, then the packed message. The expiry travels with the value
// so that a shared cache with its own clock cannot serve it for longer than
// the record allows.
func encodeAnswer(expires time.Time, msg *mdns.Msg) ([]byte, error) {
	packed, err := msg.Pack()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 8, 8+len(packed))
	binary.BigEndian.PutUint64(b, uint64(expires.UnixNano()))
	return append(b, packed...), nil
}

// decodeAnswer reverses encodeAnswer; ok is false for an expired or
// unreadable value.
func decodeAnswer(b []byte, now time.Time) (msg *mdns.Msg, ok bool) {
	if len(b) < 8 {
		return nil, false
	}
	expires := time.Unix(0, int64(binary.BigEndian.Uint64(b)))
	if !now.Before(expires) {
		return nil, false
	}
	msg = new(mdns.Msg)
	if err := msg.Unpack(b[8:]); err != nil {
		return nil, false
	}
	return msg, true
}
