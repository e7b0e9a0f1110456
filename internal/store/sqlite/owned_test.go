package sqlite

import (
	"bytes"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// TestOwnedBytesNotReused: a blob kept by ownedBytes stays intact while the
// same query (and so the same driver rows) goes on to the next row, and two
// reads of one body do not share memory. If the driver ever reuses its
// buffers this fails, and ownedBytes.Scan must copy.
func TestOwnedBytesNotReused(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	var ids []string
	for _, c := range []byte("ab") {
		m := &queue.Message{Account: "acme", From: "a@acme.test", Body: bytes.Repeat([]byte{c}, 4096),
			Recipients: []string{"r@one.test"}, Expires: time.Now().Add(time.Hour)}
		if err := s.Put(ctx, m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	// By body, not id: two ids made in one millisecond sort at random.
	rows, err := s.query(ctx, `SELECT body FROM messages WHERE id IN (?, ?) ORDER BY body`, ids[0], ids[1])
	if err != nil {
		t.Fatal(err)
	}
	var kept []ownedBytes
	for rows.Next() {
		var b ownedBytes
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, b)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 || !bytes.Equal(kept[0], bytes.Repeat([]byte("a"), 4096)) ||
		!bytes.Equal(kept[1], bytes.Repeat([]byte("b"), 4096)) {
		t.Fatalf("the first row's blob changed once the second was read: driver buffers are reused")
	}

	b1, err := s.Body(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	b2, err := s.Body(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	b1[0] = 'x'
	if b2[0] != 'a' {
		t.Fatal("two Body reads share memory")
	}
}
