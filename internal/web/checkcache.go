package web

import (
	"crypto/sha256"
	"sync"
	"time"

	"sendpool/internal/dnsrec"
)

// checkFor is how long a domain's DNS check is shown before a page view
// runs it again: without it every view costs N domains × several lookups.
// A record just published shows after at most this long, or at once with
// the page's "check now" button.
const checkFor = 60 * time.Second

// checkCacheMax bounds the cache; a full cache drops expired checks first,
// then the oldest.
const checkCacheMax = 10000

// checkCache keeps each domain's last DNS check for checkFor. It stores the
// checker's Report whole, so whatever the checker adds to it is kept too.
type checkCache struct {
	mu  sync.Mutex
	max int
	ttl time.Duration
	m   map[string]checkEntry
}

type checkEntry struct {
	rep  *dnsrec.Report
	at   time.Time // when the check ran (Config.Now)
	want [sha256.Size]byte
}

func newCheckCache(max int, ttl time.Duration) *checkCache {
	return &checkCache{max: max, ttl: ttl, m: map[string]checkEntry{}}
}

// fingerprint sums up the records a domain must publish: a check made
// against other records (a key added or rotated since) is not reused.
func fingerprint(recs []dnsrec.Record) [sha256.Size]byte {
	h := sha256.New()
	for _, r := range recs {
		for _, s := range []string{r.Type, r.Name, r.Value, r.Purpose} {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// get returns name's check if it is younger than the TTL at now and was
// made against the same records.
func (c *checkCache) get(name string, want [sha256.Size]byte, now time.Time) (*dnsrec.Report, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[name]
	if !ok || e.want != want || !now.Before(e.at.Add(c.ttl)) || now.Before(e.at) {
		return nil, time.Time{}, false
	}
	return e.rep, e.at, true
}

// put stores name's check made at at.
func (c *checkCache) put(name string, want [sha256.Size]byte, rep *dnsrec.Report, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[name]; !ok && len(c.m) >= c.max {
		c.evictLocked(at)
	}
	c.m[name] = checkEntry{rep: rep, at: at, want: want}
}

// evictLocked makes room for one entry: expired ones go, else the oldest.
func (c *checkCache) evictLocked(now time.Time) {
	var oldest string
	var oldestAt time.Time
	found := false
	for k, e := range c.m {
		if !now.Before(e.at.Add(c.ttl)) {
			delete(c.m, k)
			continue
		}
		if !found || e.at.Before(oldestAt) {
			oldest, oldestAt, found = k, e.at, true
		}
	}
	if len(c.m) >= c.max {
		delete(c.m, oldest)
	}
}

// len is how many checks are kept (tests).
func (c *checkCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
