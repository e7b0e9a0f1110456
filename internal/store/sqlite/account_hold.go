package sqlite

import (
	"context"
	"fmt"
)

// HoldAccount holds every queued or deferred delivery of the account's
// messages. Like Hold, it moves the generation on, so a worker delivering
// one of them has its Report refused and cannot undo the hold.
func (s *Store) HoldAccount(ctx context.Context, account string) (int, error) {
	n, err := s.changeAccount(ctx, account, `UPDATE deliveries
		SET status = 'held', owner = '', lease_until = 0, generation = generation + 1
		WHERE message_id IN (SELECT id FROM messages WHERE account = ?)
		  AND status IN ('queued','deferred')`, account)
	if err != nil {
		return 0, fmt.Errorf("sqlite: hold account %s: %w", account, err)
	}
	return n, nil
}

// ReleaseAccount makes the held deliveries of the account's messages due
// now: queued if never tried, deferred otherwise. Deliveries held one by one
// (queue hold ID) are released too: the store keeps no reason for a hold.
func (s *Store) ReleaseAccount(ctx context.Context, account string) (int, error) {
	n, err := s.changeAccount(ctx, account, `UPDATE deliveries
		SET status = CASE WHEN attempts > 0 THEN 'deferred' ELSE 'queued' END, next_attempt = ?
		WHERE message_id IN (SELECT id FROM messages WHERE account = ?) AND status = 'held'`,
		ms(s.now()), account)
	if err != nil {
		return 0, fmt.Errorf("sqlite: release account %s: %w", account, err)
	}
	return n, nil
}

// changeAccount runs one UPDATE of deliveries and refreshes the summary
// status of the messages it touched.
func (s *Store) changeAccount(ctx context.Context, account, update string, args ...any) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *writeTx) error {
		res, err := tx.Exec(update, args...)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		rows, err := tx.Query(`SELECT id FROM messages WHERE account = ? AND status NOT IN ('delivered','bounced')`, account)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.refreshStatus(tx, id, s.now()); err != nil {
				return err
			}
		}
		return nil
	})
	return int(n), err
}
