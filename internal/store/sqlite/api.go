package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"sendpool/internal/queue"
)

// ListMessages lists messages newest first. Ids sort by creation time
// (queue.NewID), so Before pages on the primary key.
func (s *Store) ListMessages(ctx context.Context, f queue.Filter) ([]queue.MessageSummary, error) {
	limit := f.PageSize()
	var where []string
	var args []any
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, f.Status)
	}
	if f.Account != "" {
		where = append(where, "account = ?")
		args = append(args, f.Account)
	}
	if f.Before != "" {
		where = append(where, "id < ?")
		args = append(args, f.Before)
	}
	q := `SELECT id, account, mail_from, size, created, status, rcpts FROM messages`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list messages: %w", err)
	}
	defer rows.Close()
	out := []queue.MessageSummary{}
	for rows.Next() {
		var m queue.MessageSummary
		var created int64
		if err := rows.Scan(&m.ID, &m.Account, &m.From, &m.Size, &created, &m.Status, &m.Recipients); err != nil {
			return nil, fmt.Errorf("sqlite: list messages: %w", err)
		}
		m.Created = fromMS(created)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list messages: %w", err)
	}
	return out, nil
}

// GetMessage returns a message with its recipients in order and each
// recipient's attempts in time order, read from one snapshot.
func (s *Store) GetMessage(ctx context.Context, id string) (*queue.MessageDetail, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: get message: %w", err)
	}
	defer tx.Rollback()
	d := &queue.MessageDetail{}
	var created, expires int64
	var intake sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT id, account, mail_from, size, created, expires, status, rcpts, intake
		FROM messages WHERE id = ?`, id).
		Scan(&d.ID, &d.Account, &d.From, &d.Size, &created, &expires, &d.Status, &d.MessageSummary.Recipients, &intake)
	if err != nil {
		return nil, errNoRows(err, queue.ErrNotFound)
	}
	d.Created, d.Expires = fromMS(created), fromMS(expires)
	if d.Intake, err = decodeIntake(intake); err != nil {
		return nil, fmt.Errorf("sqlite: get message %s: %w", id, err)
	}

	rows, err := tx.QueryContext(ctx, `SELECT id, recipient, status, next_attempt, response
		FROM deliveries WHERE message_id = ? ORDER BY idx`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get message: %w", err)
	}
	byID := map[string]int{}
	for rows.Next() {
		var r queue.RecipientDetail
		var did string
		var next int64
		if err := rows.Scan(&did, &r.Address, &r.Status, &next, &r.Response); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: get message: %w", err)
		}
		if r.Status == queue.StatusQueued || r.Status == queue.StatusDeferred {
			r.NextAttempt = fromMS(next)
		}
		r.Attempts = []queue.Attempt{}
		byID[did] = len(d.Recipients)
		d.Recipients = append(d.Recipients, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: get message: %w", err)
	}

	rows, err = tx.QueryContext(ctx, `SELECT a.delivery_id, a.time, a.source_ip, a.mx, a.mx_addr,
		a.response, a.verdict, a.category, a.duration, a.tls_version, a.tls_verified, a.tls_policy, a.tls_failure
		FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
		WHERE d.message_id = ? ORDER BY a.time, a.id`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get message: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a queue.Attempt
		var did string
		var t, dur int64
		if err := rows.Scan(&did, &t, &a.SourceIP, &a.MX, &a.MXAddr, &a.Response, &a.Verdict, &a.Category, &dur,
			&a.TLS.Version, &a.TLS.Verified, &a.TLS.Policy, &a.TLS.Failure); err != nil {
			return nil, fmt.Errorf("sqlite: get message: %w", err)
		}
		a.Time, a.Duration = fromMS(t), time.Duration(dur)
		if i, ok := byID[did]; ok {
			d.Recipients[i].Attempts = append(d.Recipients[i].Attempts, a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: get message: %w", err)
	}
	return d, nil
}

// Counts returns the number of deliveries in each status; every status is
// present, zero or not.
func (s *Store) Counts(ctx context.Context) (map[queue.Status]int, error) {
	out := map[queue.Status]int{}
	for _, st := range []queue.Status{queue.StatusQueued, queue.StatusDeferred, queue.StatusHeld,
		queue.StatusDelivered, queue.StatusBounced} {
		out[st] = 0
	}
	rows, err := s.r.QueryContext(ctx, `SELECT status, count(*) FROM deliveries GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st queue.Status
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("sqlite: counts: %w", err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: counts: %w", err)
	}
	return out, nil
}

// Hold stops attempts on a message's unfinished deliveries. A delivery being
// attempted loses its lease (new generation), so the worker's Report is
// refused and cannot undo the hold.
func (s *Store) Hold(ctx context.Context, id string) error {
	return s.change(ctx, "hold", id, func(tx *writeTx) error {
		_, err := tx.Exec(`UPDATE deliveries
			SET status = 'held', owner = '', lease_until = 0, generation = generation + 1
			WHERE message_id = ? AND status IN ('queued','deferred')`, id)
		return err
	})
}

// Release makes a message's held deliveries due now: queued if never tried,
// deferred otherwise.
func (s *Store) Release(ctx context.Context, id string) error {
	now := ms(s.now())
	return s.change(ctx, "release", id, func(tx *writeTx) error {
		_, err := tx.Exec(`UPDATE deliveries
			SET status = CASE WHEN attempts > 0 THEN 'deferred' ELSE 'queued' END, next_attempt = ?
			WHERE message_id = ? AND status = 'held'`, now, id)
		return err
	})
}

// Retry makes a message's waiting deliveries due now. Leased ones are left
// to their worker.
func (s *Store) Retry(ctx context.Context, id string) error {
	now := ms(s.now())
	return s.change(ctx, "retry", id, func(tx *writeTx) error {
		_, err := tx.Exec(`UPDATE deliveries SET next_attempt = ?
			WHERE message_id = ? AND status IN ('queued','deferred') AND owner = '' AND next_attempt > ?`,
			now, id, now)
		return err
	})
}

// Delete removes a message, its deliveries and their attempts.
func (s *Store) Delete(ctx context.Context, id string) error {
	s.bodies.Forget(id)
	err := s.write(ctx, func(tx *writeTx) error {
		res, err := tx.Exec(`DELETE FROM messages WHERE id = ?`, id)
		return affected(res, err, queue.ErrNotFound)
	})
	if err != nil && !errors.Is(err, queue.ErrNotFound) {
		return fmt.Errorf("sqlite: delete %s: %w", id, err)
	}
	return err
}

// change runs fn on an existing message's deliveries and refreshes its
// summary status; queue.ErrNotFound if there is no such message.
func (s *Store) change(ctx context.Context, what, id string, fn func(tx *writeTx) error) error {
	err := s.write(ctx, func(tx *writeTx) error {
		var one int
		if err := tx.QueryRow(`SELECT 1 FROM messages WHERE id = ?`, id).Scan(&one); err != nil {
			return errNoRows(err, queue.ErrNotFound)
		}
		if err := fn(tx); err != nil {
			return err
		}
		return s.refreshStatus(tx, id, s.now())
	})
	if err != nil && !errors.Is(err, queue.ErrNotFound) {
		return fmt.Errorf("sqlite: %s %s: %w", what, id, err)
	}
	return err
}
