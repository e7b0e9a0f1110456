package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"sendpool/internal/suppression"
)

// The suppression.Store half: one row per account and address key, the
// primary key being what intake looks up for every recipient.

var _ suppression.Store = (*Store)(nil)

// suppressionsSchema creates the table of this file. Like domainsSchema it
// is idempotent and run at every open whatever user_version says
// (migrate), rather than a numbered step: a step another branch numbered
// the same could not make a database skip it.
const suppressionsSchema = `
CREATE TABLE IF NOT EXISTS suppressions (
	account    TEXT NOT NULL,
	key        TEXT NOT NULL, -- suppression.Key(address)
	address    TEXT NOT NULL,
	reason     TEXT NOT NULL,
	reply      TEXT NOT NULL,
	message_id TEXT NOT NULL,
	created    INTEGER NOT NULL,
	expires    INTEGER NOT NULL, -- 0: never
	PRIMARY KEY (account, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS suppressions_created ON suppressions(account, created);
CREATE INDEX IF NOT EXISTS suppressions_expires ON suppressions(expires) WHERE expires > 0;
`

// ensureSuppressionsSchema makes the table whatever the schema version.
func ensureSuppressionsSchema(tx *sql.Tx) error {
	if _, err := tx.Exec(suppressionsSchema); err != nil {
		return fmt.Errorf("suppressions schema: %w", err)
	}
	return nil
}

const suppressionColumns = `account, address, reason, reply, message_id, created, expires`

// PutSuppression stores e, replacing the account's entry for the same key.
func (s *Store) PutSuppression(ctx context.Context, e *suppression.Entry) error {
	err := s.write(ctx, func(tx *writeTx) error {
		_, err := tx.Exec(`INSERT OR REPLACE INTO suppressions (key, `+suppressionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, suppression.Key(e.Address), e.Account, e.Address, e.Reason,
			e.Reply, e.MessageID, ms(e.Created), ms(e.Expires))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: put suppression %s %s: %w", e.Account, e.Address, err)
	}
	return nil
}

// GetSuppression returns the account's entry for address;
// suppression.ErrNotFound if there is none.
func (s *Store) GetSuppression(ctx context.Context, account, address string) (*suppression.Entry, error) {
	row := s.queryRow(ctx, `SELECT `+suppressionColumns+` FROM suppressions WHERE account = ? AND key = ?`,
		account, suppression.Key(address))
	e, err := scanSuppression(row)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, suppression.ErrNotFound
		}
		return nil, fmt.Errorf("sqlite: get suppression %s %s: %w", account, address, err)
	}
	return e, nil
}

// ListSuppressions returns the account's entries, newest first, at most
// limit (0: all).
func (s *Store) ListSuppressions(ctx context.Context, account string, limit int) ([]*suppression.Entry, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.query(ctx, `SELECT `+suppressionColumns+` FROM suppressions WHERE account = ?
		ORDER BY created DESC, key LIMIT ?`, account, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list suppressions %s: %w", account, err)
	}
	defer rows.Close()
	out := []*suppression.Entry{}
	for rows.Next() {
		e, err := scanSuppression(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list suppressions %s: %w", account, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list suppressions %s: %w", account, err)
	}
	return out, nil
}

// DeleteSuppression removes the account's entry for address;
// suppression.ErrNotFound if there is none.
func (s *Store) DeleteSuppression(ctx context.Context, account, address string) error {
	err := s.write(ctx, func(tx *writeTx) error {
		res, err := tx.Exec(`DELETE FROM suppressions WHERE account = ? AND key = ?`, account, suppression.Key(address))
		return affected(res, err, suppression.ErrNotFound)
	})
	if err != nil && !errors.Is(err, suppression.ErrNotFound) {
		return fmt.Errorf("sqlite: delete suppression %s %s: %w", account, address, err)
	}
	return err
}

// PurgeSuppressions deletes up to limit entries that expired before
// before, in one write, by the partial index on expires.
func (s *Store) PurgeSuppressions(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *writeTx) error {
		res, err := tx.Exec(`DELETE FROM suppressions WHERE (account, key) IN (
			SELECT account, key FROM suppressions WHERE expires > 0 AND expires < ? ORDER BY expires LIMIT ?)`,
			ms(before), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge suppressions: %w", err)
	}
	return int(n), nil
}

func scanSuppression(row interface{ Scan(...any) error }) (*suppression.Entry, error) {
	e := &suppression.Entry{}
	var created, expires int64
	if err := row.Scan(&e.Account, &e.Address, &e.Reason, &e.Reply, &e.MessageID, &created, &expires); err != nil {
		return nil, err
	}
	e.Created, e.Expires = fromMS(created), fromMS(expires)
	return e, nil
}
