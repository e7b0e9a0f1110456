package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/state"
	"sendpool/internal/webhook"
)

// TestDeliveryThroughFailures: a receiver that answers 500, then stalls
// past the timeout, then 410 Gone (which disables the endpoint), then
// recovers once re-enabled, gets every event at least once, each
// message's in the order they happened, every signature verifying with
// the endpoint's secret, never more requests at once than the concurrency.
// The feed then serves the same ids in the same order, and from a cursor
// the rest of them.
func TestDeliveryThroughFailures(t *testing.T) {
	rc := newReceiver(t)
	f := newFixture(t, nil)
	start := f.clock.Now()
	f.tick(time.Second)
	e, secret := f.endpoint(rc.url(), "", webhook.AllTypes()...)
	// Requests 0-3 get 500, 4 a timeout, 5 a 410; later ones 200.
	rc.setRespond(func(n int, _ request) (int, time.Duration) {
		switch {
		case n < 4:
			return http.StatusInternalServerError, 0
		case n == 4:
			return http.StatusOK, time.Second // past the 300ms timeout
		case n == 5:
			return http.StatusGone, 0
		}
		return http.StatusOK, 0
	})

	var ids []string
	for i := range 4 {
		id := f.message("shop1", fmt.Sprintf("m%d@shop1.test", i))
		ids = append(ids, id)
		f.outcome(id, "shop1", queue.StatusDeferred, "451 4.7.1 try later")
		f.outcome(id, "shop1", queue.StatusDelivered, "250 2.0.0 ok")
	}
	f.outcome(ids[3], "shop1", queue.StatusBounced, "550 5.1.1 user unknown") // a second recipient, say

	eventually(t, "the 410 to disable the endpoint", func() bool {
		got, err := f.svc.Get(context.Background(), e.ID)
		return err == nil && got.Disabled
	})
	got, _ := f.svc.Get(context.Background(), e.ID)
	if got.Reason == "" || got.DisabledAt.IsZero() {
		t.Errorf("disabled endpoint %+v", got.Health)
	}
	// Counted just after the endpoint was stored disabled (Sender.disable).
	eventually(t, "the disabled metric", func() bool { return f.metrics.get().disabled == 1 })
	if _, err := f.svc.Enable(context.Background(), e.ID); err != nil {
		t.Fatal(err)
	}
	// 4 messages × (accepted, deferred, delivered) + a bounce, its suppression,
	// and the webhook_disabled event the endpoint itself gets once enabled.
	const want = 4*3 + 2 + 1
	dumpOnFailure(t, rc)
	eventually(t, "every event delivered", func() bool { return len(rc.delivered()) == want })

	reqs := rc.requests()
	for _, r := range reqs {
		if !verify(secret, r) {
			t.Errorf("request for %s (%s): signature %q does not verify", r.ID, r.Event.Type, r.Signature)
		}
		if r.Event.ID != r.ID {
			t.Errorf("body id %s, header %s", r.Event.ID, r.ID)
		}
		if ts, err := strconv.ParseInt(r.Timestamp, 10, 64); err != nil || ts < start.Unix() || ts > f.clock.Now().Unix() {
			t.Errorf("webhook-timestamp %q, want Unix seconds of the sending", r.Timestamp)
		}
	}
	// In order per message: the first request of each event comes after
	// the success of the one before it.
	for _, id := range ids {
		var types []webhook.Type
		okAt := -1
		for i, r := range reqs {
			if r.Event.MessageID != id {
				continue
			}
			if len(types) == 0 || types[len(types)-1] != r.Event.Type {
				if okAt < 0 && len(types) > 0 {
					t.Errorf("message %s: %s sent (request %d) before %s succeeded", id, r.Event.Type, i, types[len(types)-1])
				}
				types = append(types, r.Event.Type)
				okAt = -1
			}
			if r.Status == http.StatusOK {
				okAt = i
			}
		}
		wantTypes := []webhook.Type{webhook.Accepted, webhook.Deferred, webhook.Delivered}
		if id == ids[3] {
			wantTypes = append(wantTypes, webhook.Bounced, webhook.Suppressed)
		}
		if !slices.Equal(types, wantTypes) {
			t.Errorf("message %s: events in the order %v, want %v", id, types, wantTypes)
		}
	}
	if rc.max > 2 {
		t.Errorf("%d requests at once to one endpoint, concurrency is 2", rc.max)
	}
	// A send is counted once its reply is read, after the receiver logged
	// the request: the last one may not be yet.
	eventually(t, fmt.Sprintf("metrics: %d sent, 6 or more failed", want), func() bool {
		c := f.metrics.get()
		return c.sent == want && c.failed >= 6
	})

	// The feed: the same events, in order; after a cursor, the rest.
	evs, next, err := f.svc.Feed(context.Background(), 0, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var feed []string
	for _, ev := range evs {
		feed = append(feed, ev.ID)
	}
	if !sameSet(feed, rc.delivered()) || len(feed) != want {
		t.Errorf("feed %v\nreceiver %v", feed, rc.delivered())
	}
	rest, next2, err := f.svc.Feed(context.Background(), evs[4].Seq, "", 100)
	if err != nil || len(rest) != want-5 || rest[0].ID != feed[5] || next2 != next {
		t.Errorf("feed after the 5th: %d events from %v, next %d (%v); want %d from %s, next %d",
			len(rest), rest, next2, err, want-5, feed[5], next)
	}
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// TestRotationBothSecretsVerify: after a rotation each request carries two
// signatures, one per secret, and a receiver holding either verifies it;
// once the grace has passed only the new secret signs.
func TestRotationBothSecretsVerify(t *testing.T) {
	rc := newReceiver(t)
	f := newFixture(t, nil)
	e, old := f.endpoint(rc.url(), "")
	_, fresh, err := f.svc.Rotate(context.Background(), e.ID)
	if err != nil || fresh == old || len(fresh) != len("whsec_")+44 {
		t.Fatalf("Rotate: %q, %v", fresh, err)
	}
	f.em.Held(context.Background(), "shop1", "too many bounces")
	eventually(t, "the event", func() bool { return len(rc.delivered()) == 1 })
	r := rc.requests()[0]
	if n := len(splitSigs(r.Signature)); n != 2 {
		t.Fatalf("%d signatures during the grace, want 2: %q", n, r.Signature)
	}
	for _, s := range []string{old, fresh} {
		if !verify(s, r) {
			t.Errorf("secret %s… does not verify during the grace", s[:10])
		}
	}
	list, _ := f.svc.List(context.Background())
	if len(list[0].Secrets) != 2 || list[0].Secrets[1].Expires.Sub(f.clock.Now()) != 24*time.Hour {
		t.Errorf("secrets after rotation: %+v", list[0].Secrets)
	}

	f.clock.Add(24*time.Hour + time.Second)
	f.em.Held(context.Background(), "shop2", "too many bounces")
	eventually(t, "the second event", func() bool { return len(rc.delivered()) == 2 })
	r = rc.requests()[1]
	if n := len(splitSigs(r.Signature)); n != 1 || !verify(fresh, r) || verify(old, r) {
		t.Errorf("after the grace: %q; want one signature, by the new secret only", r.Signature)
	}
}

func splitSigs(h string) []string { return strings.Fields(h) }

// TestCustomerSeesOnlyItsOwn: an account's endpoint gets that account's
// events and nothing else (another account's, the pool's); a global one
// gets them all.
func TestCustomerSeesOnlyItsOwn(t *testing.T) {
	mine, global := newReceiver(t), newReceiver(t)
	f := newFixture(t, nil)
	f.endpoint(mine.url(), "shop1")
	f.endpoint(global.url(), "", webhook.AllTypes()...)
	for _, acct := range []string{"shop1", "shop2", "shop1", "shop2"} {
		id := f.message(acct, acct+"@x.test")
		f.outcome(id, acct, queue.StatusBounced, "550 5.1.1 user unknown")
	}
	f.em.Held(context.Background(), "shop2", "bounces")
	f.em.Held(context.Background(), "shop1", "bounces")
	f.tracker()
	// shop1: 2 × (accepted, bounced, suppressed) + its hold.
	dumpOnFailure(t, global)
	eventually(t, "the global endpoint 2 + 4×3 + 2", func() bool { return len(global.delivered()) == 16 })
	eventually(t, "shop1's 7", func() bool { return len(mine.delivered()) == 7 })
	time.Sleep(100 * time.Millisecond) // anything more would have come by now
	for _, r := range mine.requests() {
		if r.Event.Account != "shop1" || r.Event.Type.Global() {
			t.Errorf("shop1's endpoint got %s of %q", r.Event.Type, r.Event.Account)
		}
	}
	if n := len(mine.requests()); n != 7 {
		t.Errorf("shop1's endpoint got %d requests, want 7", n)
	}
}

// tracker emits an IP's suspension and its end, as the pool's tracker does.
func (f *fixture) tracker() {
	now := f.clock.Now()
	s := state.Suspension{IP: "127.0.0.2", Scope: state.ScopePool, Reason: "554 5.7.1 listed at zen.spamhaus.org",
		Source: "receiver", Since: now, Until: now.Add(time.Hour)}
	f.em.Suspended(context.Background(), s)
	f.em.Resumed(context.Background(), s)
}

// dumpOnFailure logs what rc got if the test fails.
func dumpOnFailure(t *testing.T, rc *receiver) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for i, r := range rc.requests() {
			t.Logf("request %d: %s %s of message %s, answered %d", i, r.ID, r.Event.Type, r.Event.MessageID, r.Status)
		}
	})
}
