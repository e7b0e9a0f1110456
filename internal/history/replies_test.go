package history

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"sendpool/internal/state/memory"
	"sendpool/internal/state/redis"
	"sendpool/internal/testenv"
)

// twoNodes opens two handles (two nodes) on the test Redis under a key
// prefix of their own, deleted afterwards.
func twoNodes(t *testing.T) (*redis.State, *redis.State) {
	t.Helper()
	url := testenv.Redis(t)
	prefix := "sendpool-test:" + rand.Text() + ":"
	open := func() *redis.State {
		s, err := redis.Open(t.Context(), url, redis.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := open(), open()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := redis.NewClient(url, 5*time.Second)
		if err == nil {
			keys, kerr := c.Keys(ctx, prefix+"*").Result()
			if err = kerr; err == nil && len(keys) > 0 {
				err = c.Del(ctx, keys...).Err()
			}
			c.Close()
		}
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		a.Close()
		b.Close()
	})
	return a, b
}

// TestRepliesSharedByNodes: a reply recorded on one node is in the other
// node's list, interleaved by time with its own, the newest first.
func TestRepliesSharedByNodes(t *testing.T) {
	sa, sb := twoNodes(t)
	ra, rb := New(Config{State: sa}), New(Config{State: sb})
	defer ra.Close()
	defer rb.Close()
	a, b := NewReplies(sa, ra), NewReplies(sb, rb)
	t0 := time.Now()
	a.Add(Reply{Time: t0, SourceIP: "127.0.0.3", MX: "mx.gmail.test", Domain: "gmail.test",
		Response: "554 5.7.1 blocked using zen.spamhaus.org", Verdict: "blocked-ip", Category: "blacklist", Rcpts: 1})
	b.Add(Reply{Time: t0.Add(time.Second), SourceIP: "127.0.0.3", Domain: "yahoo.test", Response: "250 ok", Verdict: "delivered"})
	// Node a's reply is written in the background; b polls until it lands.
	var got []Reply
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if got, err = b.Recent(t.Context(), "127.0.0.3", 10); err != nil {
			t.Fatal(err)
		}
		if len(got) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(got) != 2 || got[0].Verdict != "delivered" || got[1].Verdict != "blocked-ip" || got[1].Domain != "gmail.test" {
		t.Fatalf("node b lists %+v; want its own delivery, then node a's block", got)
	}
	if got, err := a.Recent(t.Context(), "127.0.0.2", 10); err != nil || len(got) != 0 {
		t.Fatalf("another IP: %+v, %v", got, err)
	}
}

// TestRepliesKeepAndLimit: an IP keeps its last ReplyKeep replies; Recent
// gives n of them, newest first; one without a source IP is not kept.
func TestRepliesKeepAndLimit(t *testing.T) {
	st := memory.New(nil)
	r := New(Config{State: st})
	defer r.Close()
	x := NewReplies(st, r)
	t0 := time.Now()
	for i := range ReplyKeep + 10 {
		x.Add(Reply{Time: t0.Add(time.Duration(i) * time.Millisecond), SourceIP: "127.0.0.2", Response: fmt.Sprint(i)})
	}
	x.Add(Reply{Time: t0, Response: "no connection"})
	all, err := x.Recent(t.Context(), "127.0.0.2", 0)
	if err != nil || len(all) != ReplyKeep || all[0].Response != fmt.Sprint(ReplyKeep+9) || all[ReplyKeep-1].Response != "10" {
		t.Fatalf("all: %d entries, %v", len(all), err)
	}
	if got, _ := x.Recent(t.Context(), "127.0.0.2", 5); len(got) != 5 || got[4].Response != fmt.Sprint(ReplyKeep+5) {
		t.Fatalf("5: %+v", got)
	}
	if got, _ := x.Recent(t.Context(), "", 5); len(got) != 0 {
		t.Fatalf("without source IP: %+v", got)
	}
}
