package deliver

import (
	"context"
	"strings"
	"sync"
)

// slots caps concurrent connections per key: receivers count connections
// per client and throttle or block those that open too many, so one node
// keeps its own count per MX host and per source IP × provider. The cap is
// the caller's, per acquire: a paced IP's shrinks and grows.
type slots struct {
	mu   sync.Mutex
	keys map[string]*slot
}

// slot is one key's count; it goes away when nobody holds or waits for
// it, so the map stays small.
type slot struct {
	held, waiters int
	wake          chan struct{} // closed (and replaced) at each release
}

func newSlots() *slots { return &slots{keys: map[string]*slot{}} }

// acquire waits until key holds fewer than max slots, or for ctx to end.
// The release it returns must be called once.
func (s *slots) acquire(ctx context.Context, key string, max int) (release func(), err error) {
	for {
		s.mu.Lock()
		sl, ok := s.keys[key]
		if !ok {
			sl = &slot{wake: make(chan struct{})}
			s.keys[key] = sl
		}
		if sl.held < max {
			sl.held++
			s.mu.Unlock()
			var once sync.Once
			return func() { once.Do(func() { s.release(key, sl) }) }, nil
		}
		sl.waiters++
		wake := sl.wake
		s.mu.Unlock()
		select {
		case <-wake:
			s.mu.Lock()
			sl.waiters--
			s.mu.Unlock()
		case <-ctx.Done():
			s.mu.Lock()
			sl.waiters--
			s.drop(key, sl)
			s.mu.Unlock()
			return nil, context.Cause(ctx)
		}
	}
}

func (s *slots) release(key string, sl *slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl.held--
	close(sl.wake)
	sl.wake = make(chan struct{})
	s.drop(key, sl)
}

// drop forgets key's slot when nobody holds or waits for it. s.mu held.
func (s *slots) drop(key string, sl *slot) {
	if sl.held == 0 && sl.waiters == 0 && s.keys[key] == sl {
		delete(s.keys, key)
	}
}

// inUse is how many slots key holds.
func (s *slots) inUse(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl, ok := s.keys[key]; ok {
		return sl.held
	}
	return 0
}

// limits are the per-destination connection caps of a Courier.
type limits struct {
	maxMX         int
	perMX         *slots // key: MX host name
	perIPProvider *slots // key: source IP + " " + provider
}

// acquire takes a slot for a connection from src to the MX host mx of
// provider, src holding at most ipMax there, always in the same order (IP
// × provider, then MX host) so two connections can never each hold what
// the other waits for.
func (l *limits) acquire(ctx context.Context, mx, src, provider string, ipMax int) (release func(), err error) {
	relIP, err := l.perIPProvider.acquire(ctx, src+" "+provider, ipMax)
	if err != nil {
		return nil, err
	}
	relMX, err := l.perMX.acquire(ctx, mx, l.maxMX)
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
		return sl.waiters
	}
	return 0
}

// contended reports whether a connection to mx from src to provider is
// waited for: one that would be kept idle should close instead, so that
// the waiter does not wait for the idle time to pass.
func (l *limits) contended(mx, src, provider string) bool {
	return l.perMX.waiting(strings.ToLower(mx)) > 0 || l.perIPProvider.waiting(src+" "+provider) > 0
}
