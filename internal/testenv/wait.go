package testenv

import (
	"testing"
	"time"
)

// WaitFor polls cond until it holds and fails t, naming what, once timeout
// has passed: the tests' one wait-until loop. It polls often for a short
// wait and at most every 50 ms for a long one, whose cond is often a
// request to a running node.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	poll := min(max(timeout/1000, time.Millisecond), 50*time.Millisecond)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(poll)
	}
}
