// Package queuetest is the conformance suite every queue.Store passes: the
// embedded SQLite store and the MongoDB store run the same tests, so that no
// feature works on one and not the other (DESIGN "Seams").
//
// Times are compared at millisecond precision, which every store keeps. The
// suite uses the real clock for the store's own "now" (Put, Release, Retry,
// ReleaseOwner) and passes explicit times to Lease to simulate the future.
package queuetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// Run runs the suite; open returns a new, empty store for each subtest (and
// arranges its cleanup with t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) queue.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s queue.Store)
	}{
		{"PutThenGet", testPutThenGet},
		{"IntakeRecordRoundTrip", testIntakeRoundTrip},
		{"MissingIsNotFound", testMissingIsNotFound},
		{"BodyStoredOnceForAllRecipients", testBodyStoredOnce},
		{"SpooledBodyInChunks", testSpooledBody}, // spooled.go
		{"ListNewestFirstWithPaging", testListPaging},
		{"ListFiltersByStatusAndAccount", testListFilters},
		{"CountsPerStatus", testCounts},
		{"LeaseOnlyDueWork", testLeaseOnlyDue},
		{"LeaseAtMostMax", testLeaseMax},
		{"LeaseCarriesMessageFields", testLeaseFields},
		{"LeaseExpiresAndAnotherOwnerTakesOver", testLeaseTakeover},
		{"ExpiredLeaseRetakenBySameOwnerIsNewClaim", testLeaseSameOwnerRetake},
		{"StaleReportIsLeaseLost", testStaleReport},
		{"DeferredIsDueAgainAtNext", testDeferThenDue},
		{"DeliveredIsFinal", testDeliveredFinal},
		{"BouncedIsFinal", testBouncedFinal},
		{"MessageStatusSummarizesRecipients", testMessageStatus},
		{"AttemptsRecordedInTimeOrder", testAttemptsOrder},
		{"ReportWithoutAttemptRecordsNone", testReportNoAttempt},
		{"TriedIPsAccumulate", testTriedIPs},
		{"NextIPKeptUntilReplaced", testNextIP},
		{"DelayNotifiedSticks", testDelayNotified},
		{"HeldNotLeasedUntilReleased", testHeld},
		{"HoldWhileLeasedLosesTheLease", testHoldLeased},
		{"HoldAndReleaseAccount", testHoldAccount},
		{"RetryMakesDeferredDueNow", testRetry},
		{"Delete", testDelete},
		{"ReleaseOwner", testReleaseOwner},
		{"RenewKeepsTheLease", testRenewKeepsTheLease},
		{"RenewLostAfterTakeoverOrHold", testRenewLostAfterTakeover},
		{"ConcurrentPutsAllStored", testConcurrentPuts},
		{"ConcurrentLeasersNeverShareADelivery", testConcurrentLeasers},
		{"BodyDroppedWhenFinal", testBodyDroppedWhenFinal},
		{"PurgeFinishedBeforeCut", testPurge},
		{"PurgeRespectsLimit", testPurgeLimit},
		{"ConcurrentPurges", testPurgeConcurrent},
		{"TLSRecorded", testTLSRecorded}, // tls.go
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// owners of leases in the tests.
const (
	ownerA = "node-a"
	ownerB = "node-b"
)

// newMessage returns a message created at created with the given recipients
// (default one). Its id sorts by created.
func newMessage(created time.Time, rcpts ...string) *queue.Message {
	if len(rcpts) == 0 {
		rcpts = []string{"rcpt@example.test"}
	}
	created = created.Truncate(time.Millisecond)
	return &queue.Message{
		ID:         queue.NewID(created),
		Account:    "acme",
		From:       "sender@acme.test",
		Recipients: rcpts,
		Body:       []byte("From: sender@acme.test\r\nSubject: hi\r\n\r\nhello\r\n"),
		Created:    created,
		Expires:    created.Add(72 * time.Hour),
	}
}

func put(t *testing.T, s queue.Store, m *queue.Message) *queue.Message {
	t.Helper()
	if err := s.Put(t.Context(), m); err != nil {
		t.Fatalf("Put %s: %v", m.ID, err)
	}
	return m
}

func lease(t *testing.T, s queue.Store, owner string, now time.Time, leaseFor time.Duration, max int) []queue.Lease {
	t.Helper()
	ls, err := s.Lease(t.Context(), owner, now, leaseFor, max)
	if err != nil {
		t.Fatalf("Lease(%s, max %d): %v", owner, max, err)
	}
	return ls
}

// leaseOne leases and expects exactly one delivery.
func leaseOne(t *testing.T, s queue.Store, owner string, now time.Time) *queue.Lease {
	t.Helper()
	ls := lease(t, s, owner, now, time.Minute, 10)
	if len(ls) != 1 {
		t.Fatalf("Lease at %v: got %d deliveries, want 1", now, len(ls))
	}
	return &ls[0]
}

func report(t *testing.T, s queue.Store, l *queue.Lease, o queue.Outcome) {
	t.Helper()
	if err := s.Report(t.Context(), l, o); err != nil {
		t.Fatalf("Report %s %s: %v", l.ID, o.Status, err)
	}
}

func get(t *testing.T, s queue.Store, id string) *queue.MessageDetail {
	t.Helper()
	d, err := s.GetMessage(t.Context(), id)
	if err != nil {
		t.Fatalf("GetMessage %s: %v", id, err)
	}
	return d
}

func list(t *testing.T, s queue.Store, f queue.Filter) []string {
	t.Helper()
	ms, err := s.ListMessages(t.Context(), f)
	if err != nil {
		t.Fatalf("ListMessages(%+v): %v", f, err)
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

// attempt is an attempt made at at from source IP ip.
func attempt(at time.Time, ip, response string) queue.Attempt {
	return queue.Attempt{
		Time: at.Truncate(time.Millisecond), SourceIP: ip, MX: "mx.example.test", MXAddr: "127.0.0.53:25",
		Response: response, Verdict: "deferred", Category: "greylist", Duration: 1500 * time.Millisecond,
	}
}

func deferred(at time.Time, ip string, next time.Time) queue.Outcome {
	return queue.Outcome{Status: queue.StatusDeferred, Attempt: attempt(at, ip, "451 4.7.1 try later"), Next: next}
}

func delivered(at time.Time, ip string) queue.Outcome {
	a := attempt(at, ip, "250 2.0.0 ok")
	a.Verdict, a.Category = "delivered", ""
	return queue.Outcome{Status: queue.StatusDelivered, Attempt: a}
}

func bounced(at time.Time, ip string) queue.Outcome {
	a := attempt(at, ip, "550 5.1.1 no such user")
	a.Verdict, a.Category = "permanent", "bad-mailbox"
	return queue.Outcome{Status: queue.StatusBounced, Attempt: a}
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: got error %v, want %v", what, got, want)
	}
}

func sameTime(a, b time.Time) bool {
	return a.Truncate(time.Millisecond).Equal(b.Truncate(time.Millisecond))
}

func ids(ls []queue.Lease) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.ID
	}
	slices.Sort(out)
	return out
}

func count(t *testing.T, s queue.Store) map[queue.Status]int {
	t.Helper()
	c, err := s.Counts(t.Context())
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	return c
}

// checkCounts compares counts, a missing status counting as zero.
func checkCounts(t *testing.T, s queue.Store, want map[queue.Status]int) {
	t.Helper()
	got := count(t, s)
	for _, st := range []queue.Status{queue.StatusQueued, queue.StatusDeferred, queue.StatusHeld,
		queue.StatusDelivered, queue.StatusBounced} {
		if got[st] != want[st] {
			t.Fatalf("Counts = %v, want %v", got, want)
		}
	}
}

func body(t *testing.T, s queue.Store, id string) []byte {
	t.Helper()
	b, err := s.Body(t.Context(), id)
	if err != nil {
		t.Fatalf("Body %s: %v", id, err)
	}
	return b
}
