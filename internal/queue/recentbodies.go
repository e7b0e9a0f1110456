package queue

import "sync"

// RecentBodies keeps in memory the bodies a store wrote last, up to a
// number of bytes, oldest out first. Most mail is delivered within seconds
// of its 250, by the node that took it (the stores lease a node's own new
// mail first), so its delivery (the store's OpenBody) reads the body from
// here and not back from the store: on MongoDB one find and the decoding
// of the whole message document less per message, on SQLite one read.
// Body (bounces, the API) still reads the store.
//
// A body never changes once stored, so what is kept is never stale; what
// is not kept (another node's mail, a retry hours later, a large spooled
// body) is read from the store as before. The zero limit keeps nothing.
// Safe for concurrent use; a nil *RecentBodies keeps nothing.
type RecentBodies struct {
	max int64

	mu    sync.Mutex
	size  int64
	byID  map[string][]byte
	order []string // ids, oldest first, from head on
	head  int
}

// NewRecentBodies returns a cache of at most max bytes of bodies.
func NewRecentBodies(max int64) *RecentBodies {
	return &RecentBodies{max: max, byID: map[string][]byte{}}
}

// Add keeps the body of message id, which the store has just committed.
// The caller does not change body afterwards. A body larger than a
// sixteenth of the limit is not kept: a few large ones would push out
// hundreds of others.
func (r *RecentBodies) Add(id string, body []byte) {
	if r == nil || cost(body) > r.max/16 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byID[id]; ok {
		return
	}
	r.byID[id] = body
	r.order = append(r.order, id)
	r.size += cost(body)
	for r.size > r.max {
		r.evictOldest()
	}
}

// entryCost is what an entry costs beside its body (its id, the map's
// and the order's slots): it bounds the number of small bodies kept too.
const entryCost = 96

// cost is what keeping body counts against the limit.
func cost(body []byte) int64 { return int64(len(body)) + entryCost }

// evictOldest drops the oldest body still kept.
func (r *RecentBodies) evictOldest() {
	id := r.order[r.head]
	r.order[r.head] = ""
	r.head++
	if b, ok := r.byID[id]; ok {
		r.size -= cost(b)
		delete(r.byID, id)
	}
	// Reclaim the slice's dead front once it is half of it.
	if r.head > len(r.order)/2 {
		r.order = append(r.order[:0], r.order[r.head:]...)
		r.head = 0
	}
}

// Get returns the body of message id if it is kept.
func (r *RecentBodies) Get(id string) ([]byte, bool) {
	if r == nil {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.byID[id]
	return b, ok
}

// Forget drops the body of message id (deleted: its bounce is then told it
// is gone, as the store would).
func (r *RecentBodies) Forget(id string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.byID[id]; ok {
		r.size -= cost(b)
		delete(r.byID, id)
		// Its id stays in order until it comes out; evictOldest skips it.
	}
}
