package intake

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// blockingHash replaces the fixture's argon2id with one that counts the
// runs in flight and waits for release.
type blockingHash struct {
	inFlight, peak, runs atomic.Int32
	release              chan struct{}
}

func (b *blockingHash) check(hash, pw string) bool {
	b.runs.Add(1)
	n := b.inFlight.Add(1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	<-b.release
	b.inFlight.Add(-1)
	return pw == "secret"
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1_000_000 {
		if cond() {
			return
		}
		runtime.Gosched()
	}
	t.Fatalf("never: %s", what)
}

// Sessions that present the same credentials at once share one argon2id
// run instead of each running it (and holding its 19 MiB).
func TestAuthenticateConcurrentSameCredentials(t *testing.T) {
	f := newFixture(t)
	b := &blockingHash{release: make(chan struct{})}
	f.svc.checkHash = b.check
	const sessions = 10
	errs := make(chan error, sessions)
	for range sessions {
		go func() {
			_, err := f.svc.Authenticate(context.Background(), "acme", "secret")
			errs <- err
		}()
	}
	waitFor(t, "one hash in flight", func() bool { return b.inFlight.Load() == 1 })
	close(b.release)
	for range sessions {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := b.runs.Load(); n != 1 {
		t.Errorf("%d concurrent logins ran argon2id %d times, want 1", sessions, n)
	}
}

// A failure is not shared: each waiter then checks for itself, and
// different credentials never wait for each other beyond the hash slots.
func TestAuthenticateHashesBounded(t *testing.T) {
	f := newFixture(t)
	b := &blockingHash{release: make(chan struct{})}
	f.svc.checkHash = b.check
	slots := cap(f.svc.hashSlots)
	const logins = 12
	var started sync.WaitGroup
	errs := make(chan error, logins)
	for i := range logins {
		started.Add(1)
		go func() {
			started.Done()
			_, err := f.svc.Authenticate(context.Background(), "acme", fmt.Sprintf("guess-%d", i))
			errs <- err
		}()
	}
	started.Wait()
	waitFor(t, "every slot busy", func() bool { return int(b.inFlight.Load()) == slots })
	for range 1000 {
		runtime.Gosched() // give the others every chance to get in
	}
	close(b.release)
	for range logins {
		if err := <-errs; err == nil {
			t.Error("a wrong password was accepted")
		}
	}
	if p := int(b.peak.Load()); p > slots {
		t.Errorf("%d argon2id runs at once, want at most %d", p, slots)
	}
	if n := b.runs.Load(); n != logins {
		t.Errorf("%d hashes for %d different wrong passwords, want one each", n, logins)
	}
}
