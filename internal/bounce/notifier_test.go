package bounce

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/store/sqlite"
)

const origBody = origHeaders + "\r\nThe secret order details.\r\n"

// fixture is a notifier over a real SQLite queue holding one original
// message with its leases.
type fixture struct {
	t      *testing.T
	store  *sqlite.Store
	n      *Notifier
	orig   *queue.Message
	leases []queue.Lease
	woken  atomic.Int32
}

func newFixture(t *testing.T, gather time.Duration, from string, rcpts ...string) *fixture {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "q.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, store: st}
	f.n = New(Config{Store: st, Hostname: "relay.sendpool.test", Gather: gather, MaxQueueTime: 72 * time.Hour,
		OnQueued: func() { f.woken.Add(1) }})
	t.Cleanup(func() { f.n.Close() })
	now := time.Now()
	f.orig = &queue.Message{Account: "shop1", From: from, Recipients: rcpts, Body: []byte(origBody),
		Created: now, Expires: now.Add(time.Hour)}
	if err := st.Put(t.Context(), f.orig); err != nil {
		t.Fatal(err)
	}
	f.leases, err = st.Lease(t.Context(), "test", time.Now().Add(time.Second), time.Minute, 100)
	if err != nil || len(f.leases) != len(rcpts) {
		t.Fatalf("lease: %d, %v", len(f.leases), err)
	}
	// In recipient order (ids are message/index).
	slices.SortFunc(f.leases, func(a, b queue.Lease) int { return strings.Compare(a.ID, b.ID) })
	return f
}

// dsns leases every message queued besides the original: the DSNs.
func (f *fixture) dsns() []queue.Lease {
	f.t.Helper()
	ls, err := f.store.Lease(f.t.Context(), "check", time.Now().Add(time.Hour), time.Minute, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []queue.Lease
	for _, l := range ls {
		if l.MessageID != f.orig.ID {
			out = append(out, l)
		}
	}
	return out
}

func (f *fixture) body(id string) []byte {
	f.t.Helper()
	b, err := f.store.Body(f.t.Context(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// bounced is l rejected with a 550, as the scheduler gives it to Bounce.
func bounced(l *queue.Lease) queue.BounceItem {
	o, r := rejected(l.Recipient)
	return queue.BounceItem{Lease: l, Outcome: o, Result: r}
}

func rejected(rcpt string) (queue.Outcome, queue.Result) {
	a := queue.Attempt{Time: time.Now(), SourceIP: "127.0.0.2", MX: "mx.gmail.test", MXAddr: "127.0.0.11:25",
		Response: "550 5.1.1 <" + rcpt + ">: Recipient address rejected: User unknown",
		Verdict:  "permanent", Category: "bad-mailbox"}
	return queue.Outcome{Status: queue.StatusBounced, Attempt: a},
		queue.Result{Verdict: queue.VerdictPermanent, Attempt: a}
}

// TestFailedQueuesDSN: a bounced recipient gets its sender a DSN, queued
// from the null sender under the original's account, marked as a bounce,
// with the original's headers but not its body. It is stored when Bounce
// returns: no Flush or Close is needed.
func TestFailedQueuesDSN(t *testing.T) {
	f := newFixture(t, time.Hour, "sender@shop1.test", "user@gmail.test")
	it := bounced(&f.leases[0])
	r := it.Result
	if err := f.n.Bounce(t.Context(), []queue.BounceItem{it}); err != nil {
		t.Fatal(err)
	}

	ds := f.dsns()
	if len(ds) != 1 {
		t.Fatalf("%d DSNs queued, want 1", len(ds))
	}
	d := ds[0]
	if d.From != "" || !d.Bounce || d.Recipient != "sender@shop1.test" || d.Account != "shop1" {
		t.Errorf("DSN envelope: from %q bounce %v to %q account %q; want <>, true, sender@shop1.test, shop1",
			d.From, d.Bounce, d.Recipient, d.Account)
	}
	if d.Expires.Sub(d.Created) != 72*time.Hour {
		t.Errorf("DSN expires after %v, want delivery.max_queue_time's 72h", d.Expires.Sub(d.Created))
	}
	if f.woken.Load() != 1 {
		t.Errorf("scheduler woken %d times, want 1", f.woken.Load())
	}
	body := f.body(d.MessageID)
	p := parseDSN(t, body)
	if len(p.perRcpt) != 1 {
		t.Fatalf("%d recipient groups", len(p.perRcpt))
	}
	want(t, p.perRcpt[0], "Final-Recipient", "rfc822; user@gmail.test")
	want(t, p.perRcpt[0], "Status", "5.1.1")
	want(t, p.perRcpt[0], "Remote-MTA", "dns; mx.gmail.test")
	want(t, p.perRcpt[0], "Diagnostic-Code", "smtp; "+r.Attempt.Response)
	want(t, p.perMessage, "X-Sendpool-Queue-ID", f.orig.ID)
	if p.parts[2].body != origHeaders {
		t.Errorf("attached %q, want the original's headers", p.parts[2].body)
	}
	if strings.Contains(string(body), "secret order") {
		t.Error("the original's body leaked into the DSN")
	}
}

// TestOneDSNPerMessage: the bounced recipients of one message in a call
// share one DSN, those of another message get their own, and a delivered
// one is in none.
func TestOneDSNPerMessage(t *testing.T) {
	f := newFixture(t, time.Hour, "sender@shop1.test", "a@gmail.test", "b@gmail.test", "c@gmail.test")
	now := time.Now()
	other := &queue.Message{Account: "shop1", From: "other@shop1.test", Recipients: []string{"d@gmail.test"},
		Body: []byte(origBody), Created: now, Expires: now.Add(time.Hour)}
	if err := f.store.Put(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	ol, err := f.store.Lease(t.Context(), "test", time.Now().Add(time.Second), time.Minute, 10)
	if err != nil || len(ol) != 1 {
		t.Fatalf("lease: %d, %v", len(ol), err)
	}
	items := []queue.BounceItem{bounced(&f.leases[0]), bounced(&ol[0]), bounced(&f.leases[2]),
		{Lease: &f.leases[1], Outcome: queue.Outcome{Status: queue.StatusDelivered},
			Result: queue.Result{Verdict: queue.VerdictDelivered}}}
	if err := f.n.Bounce(t.Context(), items); err != nil {
		t.Fatal(err)
	}
	var ds []queue.Lease
	for _, d := range f.dsns() {
		if d.MessageID != other.ID {
			ds = append(ds, d)
		}
	}
	if len(ds) != 2 {
		t.Fatalf("%d DSNs queued, want 2", len(ds))
	}
	got := map[string]string{}
	for _, d := range ds {
		var rcpts []string
		for _, r := range parseDSN(t, f.body(d.MessageID)).perRcpt {
			rcpts = append(rcpts, r.Get("Final-Recipient"))
		}
		got[d.Recipient] = strings.Join(rcpts, ",")
	}
	if got["sender@shop1.test"] != "rfc822; a@gmail.test,rfc822; c@gmail.test" ||
		got["other@shop1.test"] != "rfc822; d@gmail.test" {
		t.Errorf("recipients reported per sender: %q", got)
	}
}

// failingPut is a store whose Put fails, as when the disk is full.
type failingPut struct{ *sqlite.Store }

func (failingPut) Put(context.Context, *queue.Message) error { return errors.New("disk full") }

// TestBounceFailsWithoutDSN: when the DSN cannot be stored Bounce says so,
// so that the scheduler does not record the bounce.
func TestBounceFailsWithoutDSN(t *testing.T) {
	f := newFixture(t, time.Hour, "sender@shop1.test", "user@gmail.test")
	n := New(Config{Store: failingPut{f.store}, Hostname: "relay.sendpool.test"})
	if err := n.Bounce(t.Context(), []queue.BounceItem{bounced(&f.leases[0])}); err == nil {
		t.Fatal("Bounce succeeded with no DSN stored")
	}
	// Nothing to bounce (a null sender's): nothing to fail.
	g := newFixture(t, time.Hour, "", "user@gmail.test")
	n = New(Config{Store: failingPut{g.store}, Hostname: "relay.sendpool.test"})
	if err := n.Bounce(t.Context(), []queue.BounceItem{bounced(&g.leases[0])}); err != nil {
		t.Errorf("Bounce with no DSN due: %v", err)
	}
}

// TestGatherEnds: without Flush, a delay notice is queued when the
// gathering time has passed, and Delayed returns once it is stored.
func TestGatherEnds(t *testing.T) {
	f := newFixture(t, 10*time.Millisecond, "sender@shop1.test", "user@gmail.test")
	if err := f.n.Delayed(t.Context(), []queue.DelayItem{delayed(&f.leases[0])}); err != nil {
		t.Fatal(err)
	}
	if n := len(f.dsns()); n != 1 || f.woken.Load() != 1 {
		t.Fatalf("%d DSNs stored, scheduler woken %d times when Delayed returned; want 1, 1", n, f.woken.Load())
	}
}

// TestNoDSN: none for a null sender, none for a DSN (even one whose sender
// is not null), none for a delivered recipient.
func TestNoDSN(t *testing.T) {
	f := newFixture(t, time.Hour, "", "user@gmail.test")
	it := bounced(&f.leases[0])
	r := it.Result
	if err := f.n.Bounce(t.Context(), []queue.BounceItem{it}); err != nil {
		t.Fatal(err)
	}
	if err := f.n.Delayed(t.Context(), []queue.DelayItem{{Lease: &f.leases[0],
		Outcome: queue.Outcome{Status: queue.StatusDeferred, Attempt: r.Attempt}, Result: r}}); err != nil {
		t.Fatal(err)
	}

	g := newFixture(t, time.Hour, "sender@shop1.test", "user@gmail.test")
	l := g.leases[0]
	l.Bounce = true
	items := []queue.BounceItem{bounced(&l), {Lease: &g.leases[0],
		Outcome: queue.Outcome{Status: queue.StatusDelivered}, Result: queue.Result{Verdict: queue.VerdictDelivered}}}
	if err := g.n.Bounce(t.Context(), items); err != nil {
		t.Fatal(err)
	}
	if err := g.n.Delayed(t.Context(), []queue.DelayItem{{Lease: &l,
		Outcome: queue.Outcome{Status: queue.StatusDeferred, Attempt: r.Attempt}, Result: r}}); err != nil {
		t.Fatal(err)
	}
	f.n.Close()
	g.n.Close()
	if n := len(f.dsns()) + len(g.dsns()); n != 0 {
		t.Errorf("%d DSNs queued, want none", n)
	}
}

// TestExpiredAndDelayed: an expired recipient reports the last real reply
// (the one recorded before, when this round made no attempt) with 4.4.7; a
// delay notice is a separate DSN saying delayed.
func TestExpiredAndDelayed(t *testing.T) {
	f := newFixture(t, time.Hour, "sender@shop1.test", "a@gmail.test", "b@gmail.test")
	// a: every IP suspended this round, nothing attempted.
	la := f.leases[0]
	la.Response = "451 4.7.1 Try again later"
	none := queue.Attempt{Response: "no usable source IP for gmail.test", Category: "pool"}
	exp := queue.Attempt{Time: time.Now(), Category: "expired",
		Response: "message expired in queue; last reply: " + la.Response}
	if err := f.n.Bounce(t.Context(), []queue.BounceItem{{Lease: &la,
		Outcome: queue.Outcome{Status: queue.StatusBounced, Attempt: exp},
		Result:  queue.Result{Verdict: queue.VerdictDeferred, Attempt: none}}}); err != nil {
		t.Fatal(err)
	}
	// b: deferred long enough for a delay notice.
	tmp := queue.Attempt{Time: time.Now(), MX: "mx.gmail.test", Response: "421 4.3.2 busy", Category: "other"}
	// Gathering for an hour: Close sends it at once.
	errc := make(chan error, 1)
	go func() {
		errc <- f.n.Delayed(t.Context(), []queue.DelayItem{{Lease: &f.leases[1],
			Outcome: queue.Outcome{Status: queue.StatusDeferred, Attempt: tmp},
			Result:  queue.Result{Verdict: queue.VerdictDeferred, Attempt: tmp}}})
	}()
	waitGathering(t, f.n, 1, 1)
	f.n.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	ds := f.dsns()
	if len(ds) != 2 {
		t.Fatalf("%d DSNs, want 2 (failed and delayed apart)", len(ds))
	}
	seen := map[string]bool{}
	for _, d := range ds {
		p := parseDSN(t, f.body(d.MessageID))
		if len(p.perRcpt) != 1 {
			t.Fatalf("%d recipient groups", len(p.perRcpt))
		}
		r := p.perRcpt[0]
		seen[r.Get("Action")] = true
		switch r.Get("Action") {
		case "failed":
			want(t, r, "Final-Recipient", "rfc822; a@gmail.test")
			want(t, r, "Status", "4.4.7")
			want(t, r, "Diagnostic-Code", "smtp; 451 4.7.1 Try again later")
			if !strings.Contains(p.parts[0].body, "expired") {
				t.Errorf("human part does not say expired:\n%s", p.parts[0].body)
			}
		case "delayed":
			want(t, r, "Final-Recipient", "rfc822; b@gmail.test")
			want(t, r, "Status", "4.3.2")
			want(t, r, "Will-Retry-Until", f.orig.Expires.Format(time.RFC1123Z))
		}
	}
	if !seen["failed"] || !seen["delayed"] {
		t.Errorf("actions: %v", seen)
	}
}

// TestOriginalGone: a deleted original still gets its sender a DSN, without
// the headers part.
func TestOriginalGone(t *testing.T) {
	f := newFixture(t, time.Hour, "sender@shop1.test", "user@gmail.test")
	if err := f.store.Delete(context.Background(), f.orig.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.n.Bounce(t.Context(), []queue.BounceItem{bounced(&f.leases[0])}); err != nil {
		t.Fatal(err)
	}
	ds := f.dsns()
	if len(ds) != 1 {
		t.Fatalf("%d DSNs, want 1", len(ds))
	}
	if got := strings.Join(parseDSN(t, f.body(ds[0].MessageID)).types(), ","); got != "text/plain,message/delivery-status" {
		t.Errorf("parts %s", got)
	}
}

// TestExpiredLastRecordedAttempt: when the rounds before expiry made no
// attempt (no usable IP), the DSN gives the last attempt that reached a
// receiver: its reply, MX and time.
func TestExpiredLastRecordedAttempt(t *testing.T) {
	f := newFixture(t, time.Hour, "sender@shop1.test", "user@gmail.test")
	ctx := t.Context()
	at := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	real := queue.Attempt{Time: at, SourceIP: "127.0.0.3", MX: "mx.gmail.test", MXAddr: "127.0.0.11:25",
		Response: "451 4.7.1 Service unavailable, try later", Verdict: "deferred", Category: "other"}
	none := queue.Attempt{Response: "no usable source IP for gmail.test", Category: "pool"}
	if err := f.store.Report(ctx, &f.leases[0], queue.Outcome{Status: queue.StatusDeferred, Attempt: real, Next: time.Now()}); err != nil {
		t.Fatal(err)
	}
	l := f.leaseAgain()
	if err := f.store.Report(ctx, l, queue.Outcome{Status: queue.StatusDeferred, Attempt: none, Next: time.Now()}); err != nil {
		t.Fatal(err)
	}
	l = f.leaseAgain()
	if l.Response != none.Response {
		t.Fatalf("recorded response %q", l.Response)
	}
	exp := queue.Attempt{Time: time.Now(), Category: "expired", Response: "message expired in queue; last reply: " + l.Response}
	if err := f.n.Bounce(ctx, []queue.BounceItem{{Lease: l,
		Outcome: queue.Outcome{Status: queue.StatusBounced, Attempt: exp},
		Result:  queue.Result{Verdict: queue.VerdictDeferred, Attempt: none}}}); err != nil {
		t.Fatal(err)
	}
	ds := f.dsns()
	if len(ds) != 1 {
		t.Fatalf("%d DSNs, want 1", len(ds))
	}
	r := parseDSN(t, f.body(ds[0].MessageID)).perRcpt[0]
	want(t, r, "Status", "4.4.7")
	want(t, r, "Diagnostic-Code", "smtp; "+real.Response)
	want(t, r, "Remote-MTA", "dns; mx.gmail.test")
	want(t, r, "Last-Attempt-Date", at.Format(time.RFC1123Z))
}

// leaseAgain leases the original's only delivery once more.
func (f *fixture) leaseAgain() *queue.Lease {
	f.t.Helper()
	ls, err := f.store.Lease(f.t.Context(), "test", time.Now().Add(time.Second), time.Minute, 10)
	if err != nil || len(ls) != 1 {
		f.t.Fatalf("lease again: %d, %v", len(ls), err)
	}
	return &ls[0]
}
