package queuetest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// spooledBody is a queue.Spooled in memory, for the stores' tests.
type spooledBody []byte

func (b spooledBody) Size() int64          { return int64(len(b)) }
func (b spooledBody) NewReader() io.Reader { return bytes.NewReader(b) }

// bodyOpener is how delivery reads a body (deliver.BodyOpener).
type bodyOpener interface {
	OpenBody(ctx context.Context, messageID string) (queue.StoredBody, error)
}

// testSpooledBody: a spooled body (issue 13) is stored, read back whole and
// as a stream of its chunks byte for byte, has its size, and is dropped
// once every delivery is final.
func testSpooledBody(t *testing.T, s queue.Store) {
	data := spooledBody(strings.Repeat("spooled line of a large message\r\n", (2*queue.ChunkSize+100)/33))
	m := newMessage(time.Now(), "a@one.test")
	m.Body, m.Spooled = nil, data
	put(t, s, m)
	if d := get(t, s, m.ID); d.Size != int64(len(data)) {
		t.Errorf("Size = %d, want %d", d.Size, len(data))
	}
	if b := body(t, s, m.ID); !bytes.Equal(b, data) {
		t.Errorf("Body: %d bytes, want the %d spooled", len(b), len(data))
	}
	o, ok := s.(bodyOpener)
	if !ok {
		t.Fatal("the store has no OpenBody")
	}
	sb, err := o.OpenBody(t.Context(), m.ID)
	if err != nil || sb.Size != int64(len(data)) {
		t.Fatalf("OpenBody: size %d, %v", sb.Size, err)
	}
	got := sb.Bytes
	if sb.Open != nil {
		r, err := sb.Open()
		if err != nil {
			t.Fatal(err)
		}
		if got, err = io.ReadAll(r); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	if !bytes.Equal(got, data) {
		t.Errorf("OpenBody read %d bytes, not the %d spooled", len(got), len(data))
	}
	now := time.Now()
	for _, l := range lease(t, s, ownerA, now, time.Minute, 10) {
		report(t, s, &l, delivered(now, "127.0.0.2"))
	}
	_, err = s.Body(t.Context(), m.ID)
	wantErr(t, "Body once delivered", err, queue.ErrNotFound)
	_, err = o.OpenBody(t.Context(), m.ID)
	wantErr(t, "OpenBody once delivered", err, queue.ErrNotFound)
}
