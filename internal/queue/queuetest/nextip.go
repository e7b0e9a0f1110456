package queuetest

import (
	"testing"
	"time"

	"sendpool/internal/queue"
)

// testNextIP: the source IP a greylisted delivery keeps is given back with
// the next lease, survives a lease that expires unreported, and is cleared
// by an outcome without one.
func testNextIP(t *testing.T, s queue.Store) {
	put(t, s, newMessage(time.Now()))
	now := time.Now()
	l := leaseOne(t, s, ownerA, now)
	if l.NextIP != "" {
		t.Fatalf("new delivery has NextIP %q", l.NextIP)
	}
	o := deferred(now, "127.0.0.3", now)
	o.NextIP = "127.0.0.3"
	report(t, s, l, o)

	l = leaseOne(t, s, ownerA, now)
	if l.NextIP != "127.0.0.3" {
		t.Fatalf("after a greylisted attempt NextIP = %q, want 127.0.0.3", l.NextIP)
	}
	// The lease expires without a report: another owner gets the wish too.
	l = leaseOne(t, s, ownerB, now.Add(2*time.Minute))
	if l.NextIP != "127.0.0.3" {
		t.Fatalf("after a lost lease NextIP = %q, want 127.0.0.3", l.NextIP)
	}
	report(t, s, l, deferred(now, "127.0.0.3", now))
	l = leaseOne(t, s, ownerA, now.Add(2*time.Minute))
	if l.NextIP != "" {
		t.Fatalf("after an attempt that was not greylisted NextIP = %q, want empty", l.NextIP)
	}
}
