package sqlite

import (
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

// OpenBody returns a message's body for delivery: from memory if this
// store wrote it lately (Options.BodyCache), else as openStored reads it.
// What memory keeps is the body stored: it is forgotten when the message
// is finished (refreshStatus) or deleted.
func (s *Store) OpenBody(ctx context.Context, messageID string) (queue.StoredBody, error) {
	if b, ok := s.bodies.Get(messageID); ok {
		return queue.StoredBody{Bytes: b, Size: int64(len(b))}, nil
	}
	return s.openStored(ctx, messageID)
}

// openStored reads a message's body: whole when it was stored so,
// otherwise a reader of its chunks, one read at a time (issue 13).
// ErrNotFound once the body was dropped.
func (s *Store) openStored(ctx context.Context, messageID string) (queue.StoredBody, error) {
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
		return &queue.ChunkReader{N: chunks, Fetch: func(n int) ([]byte, error) {
			var data ownedBytes
			err := s.queryRow(ctx, `SELECT data FROM body_chunks WHERE message_id = ? AND n = ?`, messageID, n).Scan(&data)
			if err != nil {
				return nil, fmt.Errorf("sqlite: body %s chunk %d: %w", messageID, n, errNoRows(err, queue.ErrNotFound))
			}
			return data, nil
		}}, nil
	}}, nil
}

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
