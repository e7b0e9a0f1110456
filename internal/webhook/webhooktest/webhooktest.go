// Package webhooktest is the conformance suite every webhook.Store passes:
// the SQLite store and the MongoDB store run the same tests (DESIGN
// "Seams"). Times are compared at millisecond precision.
package webhooktest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/testclock"
	"sendpool/internal/webhook"
)

// Store is a webhook.Store that also stores messages: an event written
// before its message's Put (webhook.Event.Commit) waits for it.
type Store interface {
	webhook.Store
	webhook.Messages
	Put(ctx context.Context, m *queue.Message) error
}

// Run runs the suite; open returns a new, empty store for each subtest (and
// arranges its cleanup with t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store, now time.Time)
	}{
		{"Endpoints", testEndpoints},
		{"FeedInOrderFromCursor", testFeed},
		{"FeedByAccount", testFeedAccount},
		{"ConcurrentAppendsNeverSkipped", testConcurrentAppends},
		{"CommitWaitsForMessage", testCommit},
		{"CommitVoidedWithoutMessage", testCommitVoid},
		{"ClaimInOrderPerKey", testClaimOrder},
		{"ClaimRoomPerEndpoint", testClaimRoom},
		{"ClaimOneClaimantEach", testClaimExclusive},
		{"ClaimExpiresAndIsTakenOver", testLease},
		{"FinishRetryLater", testRetry},
		{"DeleteEndpointDropsSends", testDeleteEndpoint},
		{"GiveUpPurgePending", testPurge},
		{"PurgeAcrossPages", testPurgePages},
		{"HeaderMessageID", testHeaderMessageID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t), testclock.New().Now())
		})
	}
}

// Endpoint returns a global endpoint (account "") or an account's.
func Endpoint(id, account string, now time.Time) *webhook.Endpoint {
	return &webhook.Endpoint{
		ID: id, URL: "https://hooks.example/" + id, Events: webhook.DefaultTypes(), Account: account,
		Secrets: []webhook.Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, Created: now,
	}
}

// Event returns an event of key at t.
func Event(id, key, account string, t time.Time) webhook.Event {
	return webhook.Event{
		ID: id, Type: webhook.Delivered, Time: t, Account: account, MessageID: key, Key: key,
		Body: []byte(`{"id":"` + id + `","type":"delivered"}`),
	}
}

func mustCreate(t *testing.T, s Store, eps ...*webhook.Endpoint) {
	t.Helper()
	for _, e := range eps {
		if err := s.CreateEndpoint(t.Context(), e); err != nil {
			t.Fatalf("CreateEndpoint(%s): %v", e.ID, err)
		}
	}
}

func mustAppend(t *testing.T, s Store, targets []string, evs ...webhook.Event) []webhook.Event {
	t.Helper()
	recs := make([]webhook.Record, len(evs))
	for i, ev := range evs {
		recs[i] = webhook.Record{Event: ev, Targets: targets}
	}
	if err := s.Append(t.Context(), recs); err != nil {
		t.Fatalf("Append: %v", err)
	}
	out := make([]webhook.Event, len(recs))
	for i, r := range recs {
		out[i] = r.Event
	}
	return out
}

func feedIDs(t *testing.T, s Store, after int64, account string, limit int, now time.Time) ([]string, int64) {
	t.Helper()
	evs, next, err := s.Feed(t.Context(), after, account, limit, now)
	if err != nil {
		t.Fatalf("Feed(%d, %q): %v", after, account, err)
	}
	ids := []string{}
	for _, ev := range evs {
		ids = append(ids, ev.ID)
	}
	return ids, next
}

func claimIDs(t *testing.T, s Store, owner string, now time.Time, room map[string]int) ([]webhook.Send, []string) {
	t.Helper()
	sends, err := s.Claim(t.Context(), owner, now, time.Minute, room)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	ids := []string{}
	for _, sd := range sends {
		ids = append(ids, sd.Endpoint+":"+sd.Event.ID)
	}
	return sends, ids
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func testEndpoints(t *testing.T, s Store, now time.Time) {
	ctx := t.Context()
	a, b := Endpoint("wh_a", "", now), Endpoint("wh_b", "shop1", now.Add(time.Second))
	b.Events = []webhook.Type{webhook.Bounced}
	mustCreate(t, s, a, b)
	got, err := s.GetEndpoint(ctx, "wh_b")
	if err != nil || !sameEndpoint(got, b) {
		t.Fatalf("GetEndpoint = %+v, %v; want %+v", got, err, b)
	}
	list, err := s.ListEndpoints(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "wh_a" || list[1].ID != "wh_b" {
		t.Fatalf("ListEndpoints = %+v, %v", list, err)
	}
	secrets := []webhook.Secret{{Value: "whsec_bmV3"}, {Value: "whsec_b2xk", Expires: now.Add(24 * time.Hour)}}
	if err := s.SetSecrets(ctx, "wh_a", secrets); err != nil {
		t.Fatal(err)
	}
	h := webhook.Health{FailingSince: now, Disabled: true, DisabledAt: now.Add(time.Hour), Reason: "410 Gone"}
	if err := s.SetHealth(ctx, "wh_a", h); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetEndpoint(ctx, "wh_a")
	want := *a
	want.Secrets, want.Health = secrets, h
	if err != nil || !sameEndpoint(got, &want) {
		t.Fatalf("after SetSecrets and SetHealth: %+v, %v; want %+v", got, err, &want)
	}
	if err := s.SetHealth(ctx, "wh_a", webhook.Health{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetEndpoint(ctx, "wh_a"); got.Health != (webhook.Health{}) {
		t.Fatalf("health not cleared: %+v", got.Health)
	}
	if err := s.DeleteEndpoint(ctx, "wh_a"); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		func() error { _, err := s.GetEndpoint(ctx, "wh_a"); return err }(),
		s.DeleteEndpoint(ctx, "wh_a"),
		s.SetHealth(ctx, "wh_a", h),
		s.SetSecrets(ctx, "wh_a", secrets),
	} {
		if !errors.Is(err, webhook.ErrNotFound) {
			t.Errorf("on a deleted endpoint: %v, want ErrNotFound", err)
		}
	}
}

// sameEndpoint compares endpoints, times by instant.
func sameEndpoint(a, b *webhook.Endpoint) bool {
	norm := func(e *webhook.Endpoint) webhook.Endpoint {
		x := *e
		x.Secrets = append([]webhook.Secret(nil), e.Secrets...)
		for i := range x.Secrets {
			x.Secrets[i].Expires = utc(x.Secrets[i].Expires)
		}
		x.Created, x.FailingSince, x.DisabledAt = utc(x.Created), utc(x.FailingSince), utc(x.DisabledAt)
		return x
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func testFeed(t *testing.T, s Store, now time.Time) {
	var want []string
	var evs []webhook.Event
	for i := range 3 {
		var batch []webhook.Event
		for j := range 2 {
			id := fmt.Sprintf("evt_%d_%d", i, j)
			want = append(want, id)
			batch = append(batch, Event(id, "m"+id, "shop1", now))
		}
		evs = append(evs, mustAppend(t, s, nil, batch...)...)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq {
			t.Fatalf("seqs not increasing: %d then %d", evs[i-1].Seq, evs[i].Seq)
		}
	}
	got, next := feedIDs(t, s, 0, "", 100, now)
	if !reflect.DeepEqual(got, want) || next != evs[5].Seq {
		t.Fatalf("Feed(0) = %v next %d; want %v next %d", got, next, want, evs[5].Seq)
	}
	full, _, _ := s.Feed(t.Context(), 0, "", 1, now)
	if string(full[0].Body) != string(evs[0].Body) || full[0].Type != webhook.Delivered ||
		!full[0].Time.Equal(now) || full[0].Account != "shop1" || full[0].Key != evs[0].Key {
		t.Errorf("feed event %+v, appended %+v", full[0], evs[0])
	}
	got, next = feedIDs(t, s, evs[2].Seq, "", 2, now)
	if !reflect.DeepEqual(got, want[3:5]) || next != evs[4].Seq {
		t.Errorf("Feed(after 3rd, limit 2) = %v next %d; want %v next %d", got, next, want[3:5], evs[4].Seq)
	}
	got, next = feedIDs(t, s, evs[5].Seq, "", 10, now)
	if len(got) != 0 || next != evs[5].Seq {
		t.Errorf("Feed past the end = %v next %d", got, next)
	}
}

func testFeedAccount(t *testing.T, s Store, now time.Time) {
	evs := mustAppend(t, s, nil, Event("a1", "m1", "shop1", now), Event("b1", "m2", "shop2", now),
		Event("p1", "ip:127.0.0.2", "", now), Event("a2", "m3", "shop1", now), Event("b2", "m4", "shop2", now))
	var got []string
	after := int64(0)
	for range 10 { // a page at a time, as a consumer would
		ids, next := feedIDs(t, s, after, "shop1", 1, now)
		got = append(got, ids...)
		if next == after {
			break
		}
		after = next
	}
	if !reflect.DeepEqual(got, []string{"a1", "a2"}) || after < evs[3].Seq {
		t.Fatalf("shop1's feed: %v up to %d; want [a1 a2] up to %d", got, after, evs[3].Seq)
	}
}

// testConcurrentAppends follows the feed while appenders write: every
// event is read once, none skipped (a cursor past an event that becomes
// visible later would lose it for good).
func testConcurrentAppends(t *testing.T, s Store, now time.Time) {
	const writers, each = 4, 15
	done := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range each {
				id := fmt.Sprintf("w%d_%d", w, i)
				err := s.Append(context.Background(), []webhook.Record{{Event: Event(id, id, "shop1", now)}})
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	seen := map[string]int{}
	after := int64(0)
	finished := 0
	deadline := time.Now().Add(2 * time.Minute)
	for len(seen) < writers*each && time.Now().Before(deadline) {
		evs, next, err := s.Feed(t.Context(), after, "", 7, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			seen[ev.ID]++
		}
		after = next
		for finished < writers {
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				finished++
				continue
			default:
			}
			break
		}
	}
	for w := range writers {
		for i := range each {
			if id := fmt.Sprintf("w%d_%d", w, i); seen[id] != 1 {
				t.Errorf("%s read %d times", id, seen[id])
			}
		}
	}
}
