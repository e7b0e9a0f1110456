package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"sendpool/internal/recipient"
)

// The MX side's part (SPEC §7): the accounts' inbound_host and forwarding
// columns, and the recipient.Store half (one row per account and address
// key). Made at every open whatever user_version says, as the
// suppressions' table is: a numbered step another branch numbered the
// same could not make a database skip it.

var _ recipient.Store = (*Store)(nil)

const recipientsSchema = `
CREATE TABLE IF NOT EXISTS recipients (
	account TEXT NOT NULL,
	address TEXT NOT NULL, -- recipient.Key
	created INTEGER NOT NULL,
	PRIMARY KEY (account, address)
) WITHOUT ROWID;`

// ensureInboundSchema adds the accounts' columns where missing (ALTER
// TABLE ADD COLUMN has no IF NOT EXISTS) and makes the recipients table.
func ensureInboundSchema(tx *sql.Tx) error {
	for _, col := range []struct{ name, def string }{
		{"inbound_host", `TEXT NOT NULL DEFAULT ''`},
		{"forwarding", `INTEGER NOT NULL DEFAULT 0`},
	} {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM pragma_table_info('accounts') WHERE name = ?`, col.name).Scan(&n); err != nil {
			return fmt.Errorf("inbound schema: %w", err)
		}
		if n == 0 {
			if _, err := tx.Exec(`ALTER TABLE accounts ADD COLUMN ` + col.name + ` ` + col.def); err != nil {
				return fmt.Errorf("inbound schema: %w", err)
			}
		}
	}
	if _, err := tx.Exec(recipientsSchema); err != nil {
		return fmt.Errorf("recipients schema: %w", err)
	}
	return nil
}

// AddRecipient implements recipient.Store.
func (s *Store) AddRecipient(ctx context.Context, account, address string) error {
	err := s.write(ctx, func(tx *writeTx) error {
		_, err := tx.Exec(`INSERT OR IGNORE INTO recipients (account, address, created) VALUES (?, ?, ?)`,
			account, recipient.Key(address), ms(s.now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: add recipient %s %s: %w", account, address, err)
	}
	return nil
}

// RemoveRecipient implements recipient.Store.
func (s *Store) RemoveRecipient(ctx context.Context, account, address string) error {
	err := s.write(ctx, func(tx *writeTx) error {
		res, err := tx.Exec(`DELETE FROM recipients WHERE account = ? AND address = ?`, account, recipient.Key(address))
		return affected(res, err, recipient.ErrNotFound)
	})
	if err != nil && !errors.Is(err, recipient.ErrNotFound) {
		return fmt.Errorf("sqlite: remove recipient %s %s: %w", account, address, err)
	}
	return err
}

// ListRecipients implements recipient.Store.
func (s *Store) ListRecipients(ctx context.Context, account string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT address FROM recipients WHERE account = ? ORDER BY address`, account)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list recipients %s: %w", account, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("sqlite: list recipients %s: %w", account, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// HasRecipient implements recipient.Store.
func (s *Store) HasRecipient(ctx context.Context, account, address string) (bool, error) {
	var one int
	err := s.queryRow(ctx, `SELECT 1 FROM recipients WHERE account = ? AND address = ?`, account, recipient.Key(address)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: has recipient %s %s: %w", account, address, err)
	}
	return true, nil
}
