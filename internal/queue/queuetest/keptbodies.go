package queuetest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// KeptBodies tests a store opened to keep the bodies it put
// (queue.RecentBodies): delivery opens the very bytes Put was given, not
// a copy read back; Body (bounces, the API) still reads the store; once
// the message is finished, or deleted, the body is gone for delivery as
// it is in the store.
func KeptBodies(t *testing.T, s queue.Store) {
	o, ok := s.(bodyOpener)
	if !ok {
		t.Fatal("the store has no OpenBody")
	}
	m := newMessage(time.Now(), "a@one.test", "b@two.test")
	m.Body = []byte(strings.Repeat("line of a message this node just took\r\n", 250))
	want := bytes.Clone(m.Body)
	put(t, s, m)
	sb, err := o.OpenBody(t.Context(), m.ID)
	if err != nil || sb.Open != nil || !bytes.Equal(sb.Bytes, want) {
		t.Fatalf("OpenBody: %d bytes, reader %v, %v; want the %d put", len(sb.Bytes), sb.Open != nil, err, len(want))
	}
	if &sb.Bytes[0] != &m.Body[0] {
		t.Fatal("OpenBody read the body back from the store: it was not kept")
	}
	if b := body(t, s, m.ID); !bytes.Equal(b, want) || &b[0] == &m.Body[0] {
		t.Fatal("Body did not read the store")
	}

	// One recipient done: the other's delivery still opens it from memory.
	now := time.Now()
	ls := lease(t, s, ownerA, now, time.Minute, 10)
	if len(ls) != 2 {
		t.Fatalf("leased %d deliveries, want 2", len(ls))
	}
	report(t, s, &ls[0], delivered(now, "127.0.0.2"))
	if sb, err := o.OpenBody(t.Context(), m.ID); err != nil || &sb.Bytes[0] != &m.Body[0] {
		t.Fatalf("OpenBody with a recipient left: %v, kept %v", err, err == nil && &sb.Bytes[0] == &m.Body[0])
	}
	report(t, s, &ls[1], bounced(now, "127.0.0.2"))
	_, err = o.OpenBody(t.Context(), m.ID)
	wantErr(t, "OpenBody of a finished message", err, queue.ErrNotFound)

	deleted := put(t, s, newMessage(time.Now()))
	if err := s.Delete(t.Context(), deleted.ID); err != nil {
		t.Fatal(err)
	}
	_, err = o.OpenBody(t.Context(), deleted.ID)
	wantErr(t, "OpenBody of a deleted message", err, queue.ErrNotFound)

}
