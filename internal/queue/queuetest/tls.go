package queuetest

import (
	"testing"
	"time"

	"sendpool/internal/queue"
)

// testTLSRecorded: each attempt keeps how its connection was protected
// (queue.TLS), an attempt without a connection keeps none, and a message
// exempt from TLS policies says so in its leases.
func testTLSRecorded(t *testing.T, s queue.Store) {
	m := newMessage(time.Now(), "a@example.test", "b@example.test")
	m.TLSOptional = true
	put(t, s, m)
	plain := put(t, s, newMessage(time.Now().Add(time.Millisecond), "c@example.test"))
	now := time.Now()
	ls := lease(t, s, ownerA, now, time.Minute, 10)
	if len(ls) != 3 {
		t.Fatalf("leased %d, want 3", len(ls))
	}
	for _, l := range ls {
		if l.TLSOptional != (l.MessageID == m.ID) {
			t.Errorf("lease %s: TLSOptional %v", l.ID, l.TLSOptional)
		}
	}
	verified := queue.TLS{Version: "TLS 1.3", Verified: true, Policy: "mta-sts"}
	failed := queue.TLS{Policy: "dane", Failure: "tlsa-invalid"}
	for _, l := range ls {
		switch l.Recipient {
		case "a@example.test":
			o := delivered(now, "127.0.0.2")
			o.Attempt.TLS = verified
			report(t, s, &l, o)
		case "b@example.test":
			o := deferred(now, "127.0.0.2", now.Add(time.Hour))
			o.Attempt.TLS = failed
			report(t, s, &l, o)
		default:
			report(t, s, &l, deferred(now, "127.0.0.2", now.Add(time.Hour)))
		}
	}
	d := get(t, s, m.ID)
	for _, r := range d.Recipients {
		want := verified
		if r.Address == "b@example.test" {
			want = failed
		}
		if len(r.Attempts) != 1 || r.Attempts[0].TLS != want {
			t.Errorf("%s: attempts %+v, want TLS %+v", r.Address, r.Attempts, want)
		}
	}
	if a := get(t, s, plain.ID).Recipients[0].Attempts; len(a) != 1 || !a[0].TLS.Zero() {
		t.Errorf("attempt without TLS: %+v", a)
	}
}
