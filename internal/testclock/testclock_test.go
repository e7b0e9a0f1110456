package testclock_test

import (
	"sync"
	"testing"
	"time"

	"sendpool/internal/testclock"
)

// TestStartsAtRealTime: a new clock reads today, so nothing a test hands
// to a real-clock judge is in the past or the future.
func TestStartsAtRealTime(t *testing.T) {
	before := time.Now().Add(-time.Second)
	c := testclock.New()
	after := time.Now()
	if now := c.Now(); now.Before(before) || now.After(after) {
		t.Fatalf("New().Now() = %v, want within [%v, %v]", now, before, after)
	}
	if c.Now().Location() != time.UTC || c.Now().Nanosecond() != 0 {
		t.Errorf("Now() = %v, want UTC, whole seconds", c.Now())
	}
}

// TestMovesOnlyWhenMoved: Add and Set move it; time passing does not.
func TestMovesOnlyWhenMoved(t *testing.T) {
	c := testclock.New()
	t0 := c.Now()
	time.Sleep(10 * time.Millisecond)
	if !c.Now().Equal(t0) {
		t.Fatalf("clock moved by itself: %v → %v", t0, c.Now())
	}
	if got := c.Add(90 * time.Second); !got.Equal(t0.Add(90*time.Second)) || !c.Now().Equal(got) {
		t.Errorf("Add returned %v, Now %v; want %v", got, c.Now(), t0.Add(90*time.Second))
	}
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	c.Set(day)
	if !c.Now().Equal(day) {
		t.Errorf("after Set, Now() = %v", c.Now())
	}
}

// TestConcurrent: readers and writers together (run with -race).
func TestConcurrent(t *testing.T) {
	c := testclock.New()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				c.Add(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
}
