package suppression

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"sendpool/internal/classify"
	"sendpool/internal/queue"
	"sendpool/internal/testclock"
)

// memStore is a Store in a map, for the tests of this package (the real
// ones pass suppressiontest).
type memStore struct {
	mu      sync.Mutex
	m       map[string]Entry
	fail    error // every call returns it when set
	gets    int
	deletes int
}

func newMemStore() *memStore { return &memStore{m: map[string]Entry{}} }

func memKey(account, address string) string { return account + " " + Key(address) }

func (s *memStore) PutSuppression(_ context.Context, e *Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.m[memKey(e.Account, e.Address)] = *e
	return nil
}

func (s *memStore) GetSuppression(_ context.Context, account, address string) (*Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	if s.fail != nil {
		return nil, s.fail
	}
	e, ok := s.m[memKey(account, address)]
	if !ok {
		return nil, ErrNotFound
	}
	return &e, nil
}

func (s *memStore) ListSuppressions(context.Context, string, int) ([]*Entry, error) {
	return nil, errors.New("not used")
}

func (s *memStore) DeleteSuppression(_ context.Context, account, address string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deletes++
	if _, ok := s.m[memKey(account, address)]; !ok {
		return ErrNotFound
	}
	delete(s.m, memKey(account, address))
	return nil
}

func (s *memStore) PurgeSuppressions(_ context.Context, before time.Time, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, e := range s.m {
		if n < limit && !e.Expires.IsZero() && e.Expires.Before(before) {
			delete(s.m, k)
			n++
		}
	}
	return n, nil
}

// final is what the scheduler hands OnFinal for a delivery of a message
// from `from` (bounce: a DSN we generated) whose attempt got reply at
// stage: the real classifier's verdict, and the outcome the scheduler makes
// of it (queue.Scheduler.outcome: a permanent verdict bounces, the others
// defer).
func final(t *testing.T, from string, bounce bool, stage, reply string) (*queue.Lease, queue.Outcome, queue.Result) {
	t.Helper()
	c, err := classify.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Classify(stage, "mx.gmail.test", reply)
	now := testclock.New().Now()
	l := &queue.Lease{Delivery: queue.Delivery{ID: "0m1/0", MessageID: "0m1", Recipient: "bob@gmail.test",
		Domain: "gmail.test"}, From: from, Account: "shop1", Bounce: bounce, Created: now, Expires: now.Add(72 * time.Hour)}
	a := queue.Attempt{Time: now, SourceIP: "127.0.0.2", MX: "mx.gmail.test", Response: reply,
		Verdict: string(cl.Verdict), Category: cl.Category}
	r := queue.Result{Verdict: cl.Verdict, Scope: cl.Scope, Attempt: a}
	o := queue.Outcome{Status: queue.StatusDeferred, Attempt: a, Next: now.Add(5 * time.Minute)}
	switch cl.Verdict {
	case queue.VerdictPermanent:
		o = queue.Outcome{Status: queue.StatusBounced, Attempt: a}
	case queue.VerdictDelivered:
		o = queue.Outcome{Status: queue.StatusDelivered, Attempt: a}
	}
	return l, o, r
}

// TestSuppresses: which final outcomes put the recipient on the list. Only
// a permanent bad-mailbox verdict on a message with a real sender does.
func TestSuppresses(t *testing.T) {
	const sender = "shop@shop1.test"
	for _, c := range []struct {
		name, from string
		bounce     bool
		stage      string
		reply      string
		want       bool
	}{
		{"user unknown", sender, false, "rcpt", "550 5.1.1 <bob@gmail.test>: Recipient address rejected: User unknown", true},
		{"gmail no such account", sender, false, "rcpt",
			"550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos", true},
		{"mailbox disabled", sender, false, "rcpt", "550 5.2.1 The email account that you tried to reach is disabled", true},
		{"no such user after data", sender, false, "eod", "550 5.1.1 No such user here", true},
		{"spamhaus block of our IP", sender, false, "rcpt",
			"554 5.7.1 Service unavailable; Client host [127.0.0.3] blocked using zen.spamhaus.org", false},
		{"spam", sender, false, "eod", "550 5.7.1 Message rejected as spam", false},
		{"policy", sender, false, "rcpt", "550 5.7.1 Relaying denied by policy", false},
		{"dmarc", sender, false, "eod", "550 5.7.26 Unauthenticated email from shop1.test is not accepted due to domain's DMARC policy", false},
		{"quota", sender, false, "rcpt", "552 5.2.2 Mailbox full", false},
		{"user unknown but temporary", sender, false, "rcpt", "450 4.1.1 <bob@gmail.test>: Recipient address rejected: User unknown in local recipient table", false},
		{"greylisted", sender, false, "rcpt", "451 4.7.1 Greylisted, please try again later", false},
		{"delivered", sender, false, "eod", "250 2.0.0 Ok: queued as 12345", false},
		{"a DSN's own bounce", "", true, "rcpt", "550 5.1.1 <shop@shop1.test>: Recipient address rejected: User unknown", false},
		{"a relayed null-sender message", "", false, "rcpt", "550 5.1.1 <bob@gmail.test>: User unknown", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, o, r := final(t, c.from, c.bounce, c.stage, c.reply)
			if got := Suppresses(l, o, r); got != c.want {
				t.Errorf("Suppresses(%q: %s/%s, status %s) = %v, want %v",
					c.reply, r.Verdict, o.Attempt.Category, o.Status, got, c.want)
			}
		})
	}
	// An expiry bounces too (the scheduler's own outcome), but whatever the
	// last reply said, it was not final: no entry.
	l, o, r := final(t, sender, false, "rcpt", "451 4.1.1 User unknown, try later")
	o.Status, o.Attempt.Category = queue.StatusBounced, "expired"
	if Suppresses(l, o, r) {
		t.Error("an expired delivery suppresses its recipient")
	}
}

// TestRecorder: a bad-mailbox bounce adds an entry for the TTL, counted;
// anything else adds nothing; an entry that lasts longer (an admin's) is
// kept; a store that fails loses the entry, not the delivery.
func TestRecorder(t *testing.T) {
	clock := testclock.New()
	st := newMemStore()
	added := 0
	rec := NewRecorder(RecorderConfig{Store: st, TTL: 720 * time.Hour, Now: clock.Now, OnSuppressed: func() { added++ }})
	const reply = "550 5.1.1 <bob@gmail.test>: Recipient address rejected: User unknown"
	finish := func(reply string) {
		l, o, r := final(t, "shop@shop1.test", false, "rcpt", reply)
		rec.OnFinal(t.Context(), l, o, r)
	}

	finish("550 5.7.1 Message rejected as spam")
	if len(st.m) != 0 || added != 0 {
		t.Fatalf("a spam refusal added %v", st.m)
	}
	finish(reply)
	e, err := st.GetSuppression(t.Context(), "shop1", "bob@gmail.test")
	if err != nil || added != 1 {
		t.Fatalf("after a 5.1.1 bounce: %+v, %v, counted %d", e, err, added)
	}
	want := Entry{Account: "shop1", Address: "bob@gmail.test", Reason: ReasonBadMailbox, Reply: reply,
		MessageID: "0m1", Created: clock.Now(), Expires: clock.Now().Add(720 * time.Hour)}
	if *e != want {
		t.Fatalf("entry %+v, want %+v", *e, want)
	}

	// A later bounce renews it.
	clock.Add(time.Hour)
	finish(reply)
	if e, _ := st.GetSuppression(t.Context(), "shop1", "bob@gmail.test"); !e.Created.Equal(clock.Now()) || added != 2 {
		t.Fatalf("renewed entry %+v (counted %d), want created now", e, added)
	}

	// An admin's entry without expiry stays as it is.
	admin := &Entry{Account: "shop1", Address: "bob@gmail.test", Reason: "by hand", Created: clock.Now()}
	st.PutSuppression(t.Context(), admin)
	clock.Add(time.Hour)
	finish(reply)
	if e, _ := st.GetSuppression(t.Context(), "shop1", "bob@gmail.test"); *e != *admin || added != 2 {
		t.Fatalf("admin's entry became %+v (counted %d)", e, added)
	}

	st.fail = errors.New("store down")
	finish(reply)
	if added != 2 {
		t.Fatalf("a failed put was counted")
	}
}

// TestSweeper: a sweep purges every expired entry in batches, and only
// those.
func TestSweeper(t *testing.T) {
	clock := testclock.New()
	st := newMemStore()
	for i, exp := range []time.Duration{-3 * time.Hour, -2 * time.Hour, -time.Hour, time.Hour, 0} {
		e := &Entry{Account: "shop1", Address: string(rune('a'+i)) + "@gmail.test", Created: clock.Now().Add(-4 * time.Hour)}
		if exp != 0 {
			e.Expires = clock.Now().Add(exp)
		}
		st.PutSuppression(t.Context(), e)
	}
	sw := NewSweeper(SweeperConfig{Store: st, Interval: time.Minute, Batch: 2, Now: clock.Now})
	if n, err := sw.Sweep(t.Context()); err != nil || n != 3 {
		t.Fatalf("Sweep = %d, %v; want 3", n, err)
	}
	if len(st.m) != 2 {
		t.Fatalf("left %v, want the unexpired and the one without expiry", st.m)
	}
}
