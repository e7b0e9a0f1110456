package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"sendpool/internal/account"
)

// The account.Store half. Domains, networks and foreign_from are JSON
// arrays of strings; the account list is small and read whole.

const accountColumns = `name, password_hash, domains, networks, per_minute, per_hour, per_day,
	status, reason, created, limits, foreign_from, inbound_host, forwarding`

// CreateAccount stores a new account; account.ErrExists if the name is taken.
// A zero Created is set to now.
func (s *Store) CreateAccount(ctx context.Context, a *account.Account) error {
	if a.Created.IsZero() {
		a.Created = s.now()
	}
	args, err := accountArgs(a)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var one int
		err := tx.QueryRow(`SELECT 1 FROM accounts WHERE name = ?`, a.Name).Scan(&one)
		if err == nil {
			return account.ErrExists
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := checkDomains(tx, a); err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO accounts (`+accountColumns+`)
			VALUES (`+placeholders(len(args))+`)`, args...)
		return err
	})
	if err != nil && !errors.Is(err, account.ErrExists) && !errors.Is(err, account.ErrDomainTaken) {
		return fmt.Errorf("sqlite: create account %s: %w", a.Name, err)
	}
	return err
}

// checkDomains refuses a's domains when another account holds one of
// them (account.Taken), inside the write transaction: the single writer
// makes the check and the write one step.
func checkDomains(tx *writeTx, a *account.Account) error {
	rows, err := tx.Query(`SELECT name, domains FROM accounts WHERE name != ?`, a.Name)
	if err != nil {
		return err
	}
	defer rows.Close()
	var others []*account.Account
	for rows.Next() {
		o := &account.Account{}
		var domains string
		if err := rows.Scan(&o.Name, &domains); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(domains), &o.Domains); err != nil {
			return fmt.Errorf("account %s: domains: %w", o.Name, err)
		}
		others = append(others, o)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return account.Taken(a, others)
}

// GetAccount returns an account; account.ErrNotFound if there is none.
func (s *Store) GetAccount(ctx context.Context, name string) (*account.Account, error) {
	row := s.queryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE name = ?`, name)
	a, err := scanAccount(row)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, account.ErrNotFound
		}
		return nil, fmt.Errorf("sqlite: get account %s: %w", name, err)
	}
	return a, nil
}

// ListAccounts returns every account, by name.
func (s *Store) ListAccounts(ctx context.Context) ([]*account.Account, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list accounts: %w", err)
	}
	defer rows.Close()
	out := []*account.Account{}
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list accounts: %w", err)
	}
	return out, nil
}

// UpdateAccount replaces every field of an existing account but its
// creation time; account.ErrNotFound if there is none.
func (s *Store) UpdateAccount(ctx context.Context, a *account.Account) error {
	args, err := accountArgs(a)
	if err != nil {
		return err
	}
	// Every column of accountColumns but name and created, in order.
	set := append(slices.Clone(args[1:9]), args[10:]...)
	err = s.write(ctx, func(tx *writeTx) error {
		var one int
		if err := tx.QueryRow(`SELECT 1 FROM accounts WHERE name = ?`, a.Name).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return account.ErrNotFound
		} else if err != nil {
			return err
		}
		if err := checkDomains(tx, a); err != nil {
			return err
		}
		res, err := tx.Exec(`UPDATE accounts SET password_hash = ?, domains = ?, networks = ?,
			per_minute = ?, per_hour = ?, per_day = ?, status = ?, reason = ?, limits = ?, foreign_from = ?,
			inbound_host = ?, forwarding = ?
			WHERE name = ?`, append(set, a.Name)...)
		return affected(res, err, account.ErrNotFound)
	})
	if err != nil && !errors.Is(err, account.ErrNotFound) && !errors.Is(err, account.ErrDomainTaken) {
		return fmt.Errorf("sqlite: update account %s: %w", a.Name, err)
	}
	return err
}

// DeleteAccount removes an account; account.ErrNotFound if there is none.
// Its queued messages stay.
func (s *Store) DeleteAccount(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx *writeTx) error {
		res, err := tx.Exec(`DELETE FROM accounts WHERE name = ?`, name)
		return affected(res, err, account.ErrNotFound)
	})
	if err != nil && !errors.Is(err, account.ErrNotFound) {
		return fmt.Errorf("sqlite: delete account %s: %w", name, err)
	}
	return err
}

// accountArgs gives the values of accountColumns, in order.
func accountArgs(a *account.Account) ([]any, error) {
	domains, foreign := a.Domains, a.ForeignFrom
	if domains == nil {
		domains = []string{}
	}
	if foreign == nil {
		foreign = []string{}
	}
	networks := make([]string, len(a.Networks))
	for i, p := range a.Networks {
		networks[i] = p.String()
	}
	d, err := json.Marshal(domains)
	if err != nil {
		return nil, err
	}
	n, err := json.Marshal(networks)
	if err != nil {
		return nil, err
	}
	l, err := json.Marshal(a.Limits)
	if err != nil {
		return nil, err
	}
	f, err := json.Marshal(foreign)
	if err != nil {
		return nil, err
	}
	return []any{a.Name, a.PasswordHash, string(d), string(n), a.Limits.PerMinute, a.Limits.PerHour,
		a.Limits.PerDay, string(a.Status), a.Reason, ms(a.Created), string(l), string(f), a.InboundHost, a.Forwarding}, nil
}

func scanAccount(row interface{ Scan(...any) error }) (*account.Account, error) {
	a := &account.Account{}
	var domains, networks, limits, foreign string
	var created int64
	err := row.Scan(&a.Name, &a.PasswordHash, &domains, &networks, &a.Limits.PerMinute,
		&a.Limits.PerHour, &a.Limits.PerDay, &a.Status, &a.Reason, &created, &limits, &foreign, &a.InboundHost, &a.Forwarding)
	if err != nil {
		return nil, err
	}
	// The other limits; the per_* columns win (a row from before version 2
	// holds '{}').
	m, h, d := a.Limits.PerMinute, a.Limits.PerHour, a.Limits.PerDay
	if err := json.Unmarshal([]byte(limits), &a.Limits); err != nil {
		return nil, fmt.Errorf("account %s: limits: %w", a.Name, err)
	}
	a.Limits.PerMinute, a.Limits.PerHour, a.Limits.PerDay = m, h, d
	a.Created = fromMS(created)
	if err := json.Unmarshal([]byte(domains), &a.Domains); err != nil {
		return nil, fmt.Errorf("account %s: domains: %w", a.Name, err)
	}
	if err := json.Unmarshal([]byte(foreign), &a.ForeignFrom); err != nil {
		return nil, fmt.Errorf("account %s: foreign_from: %w", a.Name, err)
	}
	if len(a.ForeignFrom) == 0 {
		a.ForeignFrom = nil
	}
	var nets []string
	if err := json.Unmarshal([]byte(networks), &nets); err != nil {
		return nil, fmt.Errorf("account %s: networks: %w", a.Name, err)
	}
	for _, s := range nets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("account %s: network %q: %w", a.Name, s, err)
		}
		a.Networks = append(a.Networks, p)
	}
	return a, nil
}

// placeholders returns n comma-separated "?".
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// affected maps "no row changed" to notFound.
func affected(res sql.Result, err, notFound error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound
	}
	return nil
}
