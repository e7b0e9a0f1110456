package queue

import (
	"bytes"
	"fmt"
	"testing"
)

// TestRecentBodiesBound: the bodies kept, entry costs included, never pass
// the limit; the oldest go first; one over a sixteenth of the limit is not
// kept; Forget drops one; nil and a zero limit keep nothing.
func TestRecentBodiesBound(t *testing.T) {
	const limit = 16 << 10
	r := NewRecentBodies(limit)
	body := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 900) }
	for i := range 100 {
		r.Add(fmt.Sprint(i), body(i))
		if r.size > limit {
			t.Fatalf("after %d adds: %d bytes kept, limit %d", i+1, r.size, limit)
		}
	}
	kept := limit / (900 + entryCost)
	for i := range 100 {
		b, ok := r.Get(fmt.Sprint(i))
		if want := i >= 100-kept; ok != want {
			t.Fatalf("body %d kept = %v, want %v (the newest %d)", i, ok, want, kept)
		}
		if ok && !bytes.Equal(b, body(i)) {
			t.Fatalf("body %d: got another body", i)
		}
	}
	if len(r.order)-r.head != len(r.byID) || len(r.order) > 2*kept+2 {
		t.Fatalf("order holds %d ids (from %d) for %d bodies", len(r.order), r.head, len(r.byID))
	}

	r.Forget("99")
	if _, ok := r.Get("99"); ok {
		t.Fatal("a forgotten body is still kept")
	}
	r.Add("big", make([]byte, limit/16))
	if _, ok := r.Get("big"); ok {
		t.Fatal("a body over a sixteenth of the limit was kept")
	}

	// Empty bodies cost their entry: their number is bounded too.
	for i := range 10000 {
		r.Add(fmt.Sprint("empty", i), []byte{})
	}
	if n := len(r.byID); n > limit/entryCost {
		t.Fatalf("%d empty bodies kept, at most %d fit", n, limit/entryCost)
	}
	if b, ok := r.Get("empty9999"); !ok || b == nil || len(b) != 0 {
		t.Fatalf("the last empty body: %q, %v", b, ok)
	}

	for _, r := range []*RecentBodies{nil, NewRecentBodies(0)} {
		r.Add("x", []byte("body"))
		r.Forget("x")
		if _, ok := r.Get("x"); ok {
			t.Fatalf("%v kept a body", r)
		}
	}
}
