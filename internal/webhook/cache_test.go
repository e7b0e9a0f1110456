package webhook

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowList is a Store whose ListEndpoints counts its calls and waits for
// release before answering.
type slowList struct {
	Store   // the rest is not called
	calls   atomic.Int32
	release chan struct{}
}

func (s *slowList) ListEndpoints(ctx context.Context) ([]*Endpoint, error) {
	s.calls.Add(1)
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return []*Endpoint{{ID: "wh_a"}}, nil
}

// TestEndpointsOneReadForMany: twenty Lists of an empty view share one
// store read; a List after Invalidate does not take a read begun before.
func TestEndpointsOneReadForMany(t *testing.T) {
	st := &slowList{release: make(chan struct{})}
	c := NewEndpoints(st, time.Minute)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if l, err := c.List(t.Context()); err != nil || len(l) != 1 {
				t.Errorf("List: %v, %v", l, err)
			}
		})
	}
	for st.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the others join the read
	close(st.release)
	wg.Wait()
	if n := st.calls.Load(); n != 1 {
		t.Fatalf("%d store reads for 20 Lists, want 1", n)
	}
	if _, err := c.List(t.Context()); err != nil || st.calls.Load() != 1 {
		t.Fatalf("a fresh view read the store again: %v, %d reads", err, st.calls.Load())
	}
	c.Invalidate()
	if _, err := c.List(t.Context()); err != nil || st.calls.Load() != 2 {
		t.Fatalf("after Invalidate: %v, %d reads, want 2", err, st.calls.Load())
	}
}

// TestEndpointsCallerGivesUp: a caller whose context ends stops waiting;
// the shared read goes on for the others.
func TestEndpointsCallerGivesUp(t *testing.T) {
	st := &slowList{release: make(chan struct{})}
	c := NewEndpoints(st, time.Minute)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := c.List(ctx); done <- err }()
	for st.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("List returned no error after its context ended")
	}
	close(st.release)
	if l, err := c.List(t.Context()); err != nil || len(l) != 1 {
		t.Fatalf("List after: %v, %v", l, err)
	}
}
