package deliver

import (
	"context"
	"strings"
	"sync"
)

// slots caps concurrent connections per key: receivers count connections
// per client and throttle or block those that open too many, so one node
// keeps its own count per MX host and per source IP × provider.
type slots struct {
	max int

	mu   sync.Mutex
	keys map[string]*slot
}

// slot is one key's semaphore; users counts the holders and waiters, so the
// entry goes away when nobody needs it and the map stays small.
type slot struct {
	sem   chan struct{}
	users int
}

func newSlots(max int) *slots {
	return &slots{max: max, keys: map[string]*slot{}}
}

// acquire waits for a free slot under key, or for ctx to end. The release
// it returns must be called once.
func (s *slots) acquire(ctx context.Context, key string) (release func(), err error) {
	s.mu.Lock()
	sl, ok := s.keys[key]
	if !ok {
		sl = &slot{sem: make(chan struct{}, s.max)}
		s.keys[key] = sl
	}
	sl.users++
	s.mu.Unlock()

	done := func() {
		s.mu.Lock()
		sl.users--
		if sl.users == 0 {
			delete(s.keys, key)
		}
		s.mu.Unlock()
	}
	select {
	case sl.sem <- struct{}{}:
	case <-ctx.Done():
		done()
		return nil, context.Cause(ctx)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-sl.sem
			done()
		})
	}, nil
}

// inUse is how many slots key holds (tests).
func (s *slots) inUse(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl, ok := s.keys[key]; ok {
		return len(sl.sem)
	}
	return 0
}

// limits are the per-destination connection caps of a Courier.
type limits struct {
	perMX         *slots // key: MX host name
	perIPProvider *slots // key: source IP + " " + provider
}

// acquire takes a slot for a connection from src to the MX host mx of
// provider, always in the same order (IP × provider, then MX host) so two
// connections can never each hold what the other waits for.
func (l *limits) acquire(ctx context.Context, mx, src, provider string) (release func(), err error) {
	relIP, err := l.perIPProvider.acquire(ctx, src+" "+provider)
	if err != nil {
		return nil, err
	}
	relMX, err := l.perMX.acquire(ctx, mx)
	if err != nil {
		relIP()
		return nil, err
	}
	return func() { relMX(); relIP() }, nil
}

// waiting is how many callers wait for a slot under key.
func (s *slots) waiting(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl, ok := s.keys[key]; ok {
		return sl.users - len(sl.sem)
	}
	return 0
}

// contended reports whether a connection to mx from src to provider is
// waited for: one that would be kept idle should close instead, so that
// the waiter does not wait for the idle time to pass.
func (l *limits) contended(mx, src, provider string) bool {
	return l.perMX.waiting(strings.ToLower(mx)) > 0 || l.perIPProvider.waiting(src+" "+provider) > 0
}
