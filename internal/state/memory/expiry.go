package memory

import (
	"container/heap"
	"slices"
	"time"
)

// expiries says when keys may be gone: a min-heap of times with at most
// one live item per key, so that finding the keys due costs nothing while
// none is, and a key costs one item however often it is written. A key
// whose time moves later keeps its item: when it comes due the owner finds
// the key still in use and schedules it again (the key then costs one
// extra look per period); one whose time moves earlier gets a new item,
// and the old one is dropped when it comes up (live no longer names it).
type expiries struct {
	items []expiry
	live  map[string]time.Time // key → the time of its live item
}

type expiry struct {
	at  time.Time
	key string
}

func newExpiries() expiries { return expiries{live: map[string]time.Time{}} }

// schedule makes sure key is looked at no later than at.
func (e *expiries) schedule(key string, at time.Time) {
	if cur, ok := e.live[key]; ok && !at.Before(cur) {
		return
	}
	e.live[key] = at
	heap.Push((*expiryHeap)(e), expiry{at: at, key: key})
}

// pop removes and returns the first item due at now, if any. A superseded
// item comes back with live false: it counts as work but names nothing.
func (e *expiries) pop(now time.Time) (key string, live, ok bool) {
	if len(e.items) == 0 || e.items[0].at.After(now) {
		return "", false, false
	}
	it := heap.Pop((*expiryHeap)(e)).(expiry)
	if at, found := e.live[it.key]; !found || !at.Equal(it.at) {
		return it.key, false, true
	}
	delete(e.live, it.key)
	return it.key, true, true
}

func (e *expiries) len() int { return len(e.items) }

// expiryHeap is expiries as a container/heap.
type expiryHeap expiries

func (h *expiryHeap) Len() int           { return len(h.items) }
func (h *expiryHeap) Less(i, j int) bool { return h.items[i].at.Before(h.items[j].at) }
func (h *expiryHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *expiryHeap) Push(x any)         { h.items = append(h.items, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	n := len(h.items) - 1
	it := h.items[n]
	h.items[n] = expiry{}
	h.items = h.items[:n]
	if c := cap(h.items); c > 1024 && n < c/4 {
		h.items = slices.Clone(h.items) // after a burst of keys, give the room back
	}
	return it
}
