package sqlite

import (
	"context"
	"fmt"
	"strconv"

	"sendpool/internal/queue"
)

// Put stores m (body once) and one delivery per recipient, queued and due
// now, or held. An empty m.ID or zero m.Created is filled in. It returns once
// the transaction holding the message is committed and fsynced.
func (s *Store) Put(ctx context.Context, m *queue.Message) error {
	put, err := s.putOp(m)
	if err != nil {
		return err
	}
	if err := s.writeGrowing(ctx, put); err != nil {
		return fmt.Errorf("sqlite: put %s: %w", m.ID, err)
	}
	s.keepBody(m)
	return nil
}

// keepBody keeps the body of m, just committed, for its delivery; a
// spooled one is read from its chunks.
func (s *Store) keepBody(m *queue.Message) {
	if m.Spooled == nil {
		body := m.Body
		if body == nil {
			body = []byte{}
		}
		s.bodies.Add(m.ID, body)
	}
}

// putOp prepares Put's write of m.
func (s *Store) putOp(m *queue.Message) (func(tx *writeTx) error, error) {
	now := s.now()
	status, domains, err := queue.Prepare(m, now)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	body := m.Body
	if body == nil {
		body = []byte{} // NULL means "dropped"
	}
	// Encoded here, outside the writer, so the group commit holds no
	// longer for it.
	intake, err := encodeIntake(m.Intake)
	if err != nil {
		return nil, fmt.Errorf("sqlite: put %s: %w", m.ID, err)
	}
	due := ms(now)
	size, chunks := m.BodySize(), 0
	if m.Spooled != nil {
		chunks = int((size + queue.ChunkSize - 1) / queue.ChunkSize)
	}
	return func(tx *writeTx) error {
		_, err := tx.Exec(`INSERT INTO messages
			(id, account, mail_from, body, size, created, expires, bounce, rcpts, status, intake, tls_optional, chunks)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.ID, m.Account, m.From, body, size, ms(m.Created), ms(m.Expires),
			m.Bounce, len(m.Recipients), status, intake, m.TLSOptional, chunks)
		if err != nil {
			return err
		}
		if err := putChunks(tx, m, chunks); err != nil {
			return err
		}
		for i, r := range m.Recipients {
			_, err := tx.Exec(`INSERT INTO deliveries
				(id, message_id, idx, recipient, domain, status, next_attempt)
				VALUES (?, ?, ?, ?, ?, ?, ?)`,
				m.ID+"/"+strconv.Itoa(i), m.ID, i, r, domains[i], status, due)
			if err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// Body returns a message's body; ErrNotFound also once every delivery is
// final and the body was dropped. A body stored in chunks is put together
// (bounces read it so); delivery reads it with OpenBody instead.
func (s *Store) Body(ctx context.Context, messageID string) ([]byte, error) {
	sb, err := s.openStored(ctx, messageID)
	if err != nil || sb.Open == nil {
		return sb.Bytes, err
	}
	return readStored(sb)
}
