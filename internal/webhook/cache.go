package webhook

import (
	"container/list"
	"context"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Endpoints is a node's view of the registered endpoints, read again from
// the store every ttl: every event consults it (who wants it) and so does
// every send (where, which secrets, disabled or not). Changes made through
// this node's API call Invalidate; other nodes see them within ttl.
// Concurrent readers of an empty or stale view share one store read.
type Endpoints struct {
	store Store
	ttl   time.Duration
	reads singleflight.Group

	mu   sync.Mutex
	list []*Endpoint
	at   time.Time // when list was read (real time); zero: never
	gen  uint64    // Invalidate's count: a read begun before one is not kept
}

// NewEndpoints returns the view of store's endpoints, kept ttl.
func NewEndpoints(store Store, ttl time.Duration) *Endpoints {
	return &Endpoints{store: store, ttl: ttl}
}

// List returns every endpoint. The endpoints are shared: do not change them.
func (c *Endpoints) List(ctx context.Context) ([]*Endpoint, error) {
	c.mu.Lock()
	if !c.at.IsZero() && time.Since(c.at) < c.ttl {
		l := c.list
		c.mu.Unlock()
		return l, nil
	}
	gen := c.gen
	c.mu.Unlock()
	// Keyed by generation: a List after Invalidate does not join a read
	// begun before it.
	ch := c.reads.DoChan(strconv.FormatUint(gen, 10), func() (any, error) {
		// Not the first caller's context: its end must not fail the
		// others, who each wait under their own.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endpointsRead)
		defer cancel()
		l, err := c.store.ListEndpoints(rctx)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.gen == gen {
			c.list, c.at = l, time.Now()
		}
		c.mu.Unlock()
		return l, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]*Endpoint), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// endpointsRead bounds the shared read of the endpoints.
const endpointsRead = 30 * time.Second

// Get returns the endpoint id from the list; false if there is none.
func (c *Endpoints) Get(ctx context.Context, id string) (*Endpoint, bool, error) {
	l, err := c.List(ctx)
	if err != nil {
		return nil, false, err
	}
	for _, e := range l {
		if e.ID == id {
			return e, true, nil
		}
	}
	return nil, false, nil
}

// Invalidate makes the next List read the store.
func (c *Endpoints) Invalidate() {
	c.mu.Lock()
	c.at = time.Time{}
	c.gen++
	c.mu.Unlock()
}

// lru is a bounded map that forgets the least recently used entry.
type lru struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *lruEntry, most recent first
	items map[string]*list.Element
}

type lruEntry struct{ key, value string }

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), items: map[string]*list.Element{}}
}

func (c *lru) get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return "", false
	}
	c.order.MoveToFront(el)
	return el.Value.(*lruEntry).value, true
}

func (c *lru) put(key, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		el.Value.(*lruEntry).value = value
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&lruEntry{key, value})
	if c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*lruEntry).key)
	}
}
