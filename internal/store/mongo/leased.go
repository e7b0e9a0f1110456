package mongo

import (
	"sync"
	"time"
)

// leasedDocs keeps, for each delivery this store leased and has not
// reported yet, the document as its own last write (lease or renewal) left
// it, so that a report writes the outcome without reading the delivery
// first. The claims make the copy exact: between two generations of this
// node's, nobody else writes the delivery, and a report whose claim is
// won finds it at the generation leased. A copy whose generation is not
// the lease's is not used; one whose lease ended long ago is forgotten.
type leasedDocs struct {
	mu   sync.Mutex
	docs map[string]*deliveryDoc
}

// forgetAfter is how long after its lease's end a copy is kept for a
// report that may still come (a worker past its lease).
const forgetAfter = 10 * time.Minute

// keep remembers d as written.
func (l *leasedDocs) keep(d deliveryDoc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.docs == nil {
		l.docs = map[string]*deliveryDoc{}
	}
	l.docs[d.ID] = &d
}

// renewed notes a renewal: the copy of the delivery at gen moves to c's
// generation, its lease to until.
func (l *leasedDocs) renewed(id string, gen int64, c claimDoc, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d, ok := l.docs[id]; ok && d.Gen == gen {
		d.Gen, d.Claim, d.Until, d.Next = c.Gen, c.ID, until, until
	}
}

// take returns and forgets the copy of delivery id at gen held by owner.
func (l *leasedDocs) take(id string, gen int64, owner string) (deliveryDoc, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.docs[id]
	if !ok {
		return deliveryDoc{}, false
	}
	delete(l.docs, id)
	if d.Gen != gen || d.Owner != owner {
		return deliveryDoc{}, false
	}
	return *d, true
}

// forget drops the copies of leases that ended before now-forgetAfter.
func (l *leasedDocs) forget(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, d := range l.docs {
		if d.Until.Before(now.Add(-forgetAfter)) {
			delete(l.docs, id)
		}
	}
}
