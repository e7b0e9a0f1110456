package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"sendpool/internal/queue"
)

// putChunks writes the n chunks of m's spooled body, read from its spool
// file a chunk at a time, in Put's transaction: the message is stored
// whole or not at all, and only one chunk is in memory.
func putChunks(tx *writeTx, m *queue.Message, n int) error {
	if n == 0 {
		return nil
	}
	r := m.Spooled.NewReader()
	buf := make([]byte, queue.ChunkSize)
	for i := range n {
		k, err := io.ReadFull(r, buf)
		if err != nil && (err != io.ErrUnexpectedEOF || i != n-1) {
			return fmt.Errorf("reading chunk %d of the spooled body: %w", i, err)
		}
		if _, err := tx.Exec(`INSERT INTO body_chunks (message_id, n, data) VALUES (?, ?, ?)`,
			m.ID, i, buf[:k]); err != nil {
			return err
		}
	}
	return nil
}

// OpenBody returns a message's body for delivery: whole when it was stored
// so, otherwise a reader of its chunks, one read at a time (issue 13).
// ErrNotFound once the body was dropped.
func (s *Store) OpenBody(ctx context.Context, messageID string) (queue.StoredBody, error) {
	var body ownedBytes
	var dropped bool
	var chunks int
	var size int64
	err := s.queryRow(ctx, `SELECT body, body IS NULL, chunks, size FROM messages WHERE id = ?`, messageID).
		Scan(&body, &dropped, &chunks, &size)
	if err != nil {
		return queue.StoredBody{}, errNoRows(err, queue.ErrNotFound)
	}
	if dropped {
		return queue.StoredBody{}, queue.ErrNotFound
	}
	if chunks == 0 {
		if body == nil {
			body = ownedBytes{}
		}
		return queue.StoredBody{Bytes: body, Size: int64(len(body))}, nil
	}
	return queue.StoredBody{Size: size, Open: func() (io.ReadCloser, error) {
		return &chunkReader{s: s, ctx: ctx, id: messageID, n: chunks}, nil
	}}, nil
}

// chunkReader reads a body's chunks in order, one query each.
type chunkReader struct {
	s    *Store
	ctx  context.Context
	id   string
	n    int // chunks in all
	next int
	cur  bytes.Reader
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for c.cur.Len() == 0 {
		if c.next == c.n {
			return 0, io.EOF
		}
		var data ownedBytes
		err := c.s.queryRow(c.ctx, `SELECT data FROM body_chunks WHERE message_id = ? AND n = ?`, c.id, c.next).Scan(&data)
		if err != nil {
			return 0, fmt.Errorf("sqlite: body %s chunk %d: %w", c.id, c.next, errNoRows(err, queue.ErrNotFound))
		}
		c.next++
		c.cur.Reset(data)
	}
	return c.cur.Read(p)
}

func (c *chunkReader) Close() error { return nil }

// readStored reads a chunked body into memory.
func readStored(sb queue.StoredBody) ([]byte, error) {
	r, err := sb.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, sb.Size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("sqlite: body: %w", err)
	}
	return b, nil
}
