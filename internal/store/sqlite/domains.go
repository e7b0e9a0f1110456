package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"sendpool/internal/domain"
)

// The domain.Store half: one row per domain, one per DKIM key. A domain is
// read with its keys in one query (one snapshot) and written whole: its
// keys are replaced, guarded by its version.

var _ domain.Store = (*Store)(nil)

// domainsSchema creates the tables of this file. It is idempotent (IF NOT
// EXISTS), and ensureDomainsSchema runs it at every open whatever
// user_version says: a migration another branch numbered the same cannot
// make a database skip it.
const domainsSchema = `
CREATE TABLE IF NOT EXISTS domains (
	name    TEXT PRIMARY KEY,
	account TEXT NOT NULL,
	created INTEGER NOT NULL,
	version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS domains_account ON domains(account, name);
CREATE TABLE IF NOT EXISTS dkim_keys (
	domain       TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
	idx          INTEGER NOT NULL, -- order within the domain
	selector     TEXT NOT NULL,
	algorithm    TEXT NOT NULL,
	private_key  TEXT NOT NULL,    -- PKCS #8 PEM; the file is 0600
	public_key   TEXT NOT NULL,
	created      INTEGER NOT NULL,
	state        TEXT NOT NULL,
	activated_at INTEGER NOT NULL,
	retired_at   INTEGER NOT NULL,
	PRIMARY KEY (domain, selector)
);
CREATE TABLE IF NOT EXISTS dns_published (
	domain    TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
	idx       INTEGER NOT NULL, -- order within the domain
	type      TEXT NOT NULL,
	name      TEXT NOT NULL,
	value     TEXT NOT NULL,
	merged    INTEGER NOT NULL,
	publisher TEXT NOT NULL,
	PRIMARY KEY (domain, idx)
);
`

// domainsColumns are the columns each table must have, with the definition
// that adds one to an older table of the same name.
var domainsColumns = map[string][][2]string{
	"domains": {
		{"name", ""}, {"account", "TEXT NOT NULL DEFAULT ''"}, {"created", "INTEGER NOT NULL DEFAULT 0"},
		{"version", "INTEGER NOT NULL DEFAULT 1"},
	},
	"dkim_keys": {
		{"domain", ""}, {"idx", "INTEGER NOT NULL DEFAULT 0"}, {"selector", ""},
		{"algorithm", "TEXT NOT NULL DEFAULT ''"}, {"private_key", "TEXT NOT NULL DEFAULT ''"},
		{"public_key", "TEXT NOT NULL DEFAULT ''"}, {"created", "INTEGER NOT NULL DEFAULT 0"},
		{"state", "TEXT NOT NULL DEFAULT 'retired'"}, {"activated_at", "INTEGER NOT NULL DEFAULT 0"},
		{"retired_at", "INTEGER NOT NULL DEFAULT 0"},
	},
	"dns_published": {
		{"domain", ""}, {"idx", ""}, {"type", "TEXT NOT NULL DEFAULT ''"}, {"name", "TEXT NOT NULL DEFAULT ''"},
		{"value", "TEXT NOT NULL DEFAULT ''"}, {"merged", "INTEGER NOT NULL DEFAULT 0"},
		{"publisher", "TEXT NOT NULL DEFAULT ''"},
	},
}

// ensureDomainsSchema makes the domain tables whatever the schema version:
// it creates what is missing and adds any missing column.
func ensureDomainsSchema(tx *sql.Tx) error {
	if _, err := tx.Exec(domainsSchema); err != nil {
		return fmt.Errorf("domains schema: %w", err)
	}
	for table, cols := range domainsColumns {
		have := map[string]bool{}
		rows, err := tx.Query(`SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			return fmt.Errorf("domains schema: columns of %s: %w", table, err)
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return fmt.Errorf("domains schema: columns of %s: %w", table, err)
			}
			have[name] = true
		}
		rows.Close()
		for _, c := range cols {
			if have[c[0]] {
				continue
			}
			if c[1] == "" {
				return fmt.Errorf("domains schema: table %s lacks key column %s", table, c[0])
			}
			if _, err := tx.Exec(`ALTER TABLE ` + table + ` ADD COLUMN ` + c[0] + ` ` + c[1]); err != nil {
				return fmt.Errorf("domains schema: add %s.%s: %w", table, c[0], err)
			}
		}
	}
	return nil
}

// CreateDomain stores a new domain with Version 1; domain.ErrExists if
// the name is taken.
func (s *Store) CreateDomain(ctx context.Context, d *domain.Domain) error {
	if d.Created.IsZero() {
		d.Created = s.now()
	}
	err := s.write(ctx, func(tx *writeTx) error {
		var one int
		err := tx.QueryRow(`SELECT 1 FROM domains WHERE name = ?`, d.Name).Scan(&one)
		if err == nil {
			return domain.ErrExists
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO domains (name, account, created, version) VALUES (?, ?, ?, 1)`,
			d.Name, d.Account, ms(d.Created)); err != nil {
			return err
		}
		return insertKeys(tx, d)
	})
	if err != nil {
		if errors.Is(err, domain.ErrExists) {
			return err
		}
		return fmt.Errorf("sqlite: create domain %s: %w", d.Name, err)
	}
	d.Version = 1
	return nil
}

// UpdateDomain replaces a domain's account and keys if its version is still
// d.Version, and increments d.Version.
func (s *Store) UpdateDomain(ctx context.Context, d *domain.Domain) error {
	err := s.write(ctx, func(tx *writeTx) error {
		res, err := tx.Exec(`UPDATE domains SET account = ?, version = version + 1 WHERE name = ? AND version = ?`,
			d.Account, d.Name, d.Version)
		if err := affected(res, err, domain.ErrConflict); err != nil {
			if errors.Is(err, domain.ErrConflict) {
				var one int
				if e := tx.QueryRow(`SELECT 1 FROM domains WHERE name = ?`, d.Name).Scan(&one); errors.Is(e, sql.ErrNoRows) {
					return domain.ErrNotFound
				}
			}
			return err
		}
		if _, err := tx.Exec(`DELETE FROM dkim_keys WHERE domain = ?`, d.Name); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM dns_published WHERE domain = ?`, d.Name); err != nil {
			return err
		}
		return insertKeys(tx, d)
	})
	if err != nil {
		if errors.Is(err, domain.ErrConflict) || errors.Is(err, domain.ErrNotFound) {
			return err
		}
		return fmt.Errorf("sqlite: update domain %s: %w", d.Name, err)
	}
	d.Version++
	return nil
}

func insertKeys(tx *writeTx, d *domain.Domain) error {
	for i, k := range d.Keys {
		_, err := tx.Exec(`INSERT INTO dkim_keys (domain, idx, selector, algorithm, private_key, public_key,
			created, state, activated_at, retired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.Name, i, k.Selector, string(k.Algorithm), k.PrivateKey, k.PublicKey,
			ms(k.Created), string(k.State), ms(k.ActivatedAt), ms(k.RetiredAt))
		if err != nil {
			return fmt.Errorf("key %s: %w", k.Selector, err)
		}
	}
	for i, p := range d.Published {
		_, err := tx.Exec(`INSERT INTO dns_published (domain, idx, type, name, value, merged, publisher)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, d.Name, i, p.Type, p.Name, p.Value, p.Merged, p.Publisher)
		if err != nil {
			return fmt.Errorf("published %s %s: %w", p.Type, p.Name, err)
		}
	}
	return nil
}

// DeleteDomain removes a domain and its keys; domain.ErrNotFound if none.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx *writeTx) error {
		// The keys go by ON DELETE CASCADE; the published records too,
		// said again here for a database whose table predates the key.
		if _, err := tx.Exec(`DELETE FROM dns_published WHERE domain = ?`, name); err != nil {
			return err
		}
		res, err := tx.Exec(`DELETE FROM domains WHERE name = ?`, name)
		return affected(res, err, domain.ErrNotFound)
	})
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return fmt.Errorf("sqlite: delete domain %s: %w", name, err)
	}
	return err
}

// domainSelect reads domains joined with their keys, in key order; rows of a
// domain without keys have NULL key columns.
const domainSelect = `SELECT d.name, d.account, d.created, d.version,
	k.selector, k.algorithm, k.private_key, k.public_key, k.created, k.state, k.activated_at, k.retired_at
	FROM domains d LEFT JOIN dkim_keys k ON k.domain = d.name`

// GetDomain returns a domain with its keys; domain.ErrNotFound if none.
func (s *Store) GetDomain(ctx context.Context, name string) (*domain.Domain, error) {
	ds, err := s.queryDomains(ctx, domainSelect+` WHERE d.name = ? ORDER BY k.idx`, name)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get domain %s: %w", name, err)
	}
	if len(ds) == 0 {
		return nil, domain.ErrNotFound
	}
	if err := s.readPublished(ctx, ds, `SELECT domain, type, name, value, merged, publisher FROM dns_published
		WHERE domain = ? ORDER BY idx`, name); err != nil {
		return nil, fmt.Errorf("sqlite: get domain %s: %w", name, err)
	}
	return ds[0], nil
}

// readPublished adds to ds the published records q returns (domain first).
// A second query rather than a join: a domain has a few of each, and a
// join would repeat every key per record. Both run on the reader, so a
// domain updated between them may show the next version's records with the
// older keys; the publisher (their only writer) reads before it writes and
// UpdateDomain's version check catches what it missed.
func (s *Store) readPublished(ctx context.Context, ds []*domain.Domain, q string, args ...any) error {
	by := map[string]*domain.Domain{}
	for _, d := range ds {
		by[d.Name] = d
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var dom string
		var p domain.Published
		if err := rows.Scan(&dom, &p.Type, &p.Name, &p.Value, &p.Merged, &p.Publisher); err != nil {
			return err
		}
		if d := by[dom]; d != nil {
			d.Published = append(d.Published, p)
		}
	}
	return rows.Err()
}

// ListDomains returns the domains of account ("" for all), by name.
func (s *Store) ListDomains(ctx context.Context, account string) ([]*domain.Domain, error) {
	q, args := domainSelect+` ORDER BY d.name, k.idx`, []any{}
	if account != "" {
		q, args = domainSelect+` WHERE d.account = ? ORDER BY d.name, k.idx`, []any{account}
	}
	ds, err := s.queryDomains(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list domains: %w", err)
	}
	pq, pargs := `SELECT domain, type, name, value, merged, publisher FROM dns_published ORDER BY domain, idx`, []any{}
	if account != "" {
		pq = `SELECT p.domain, p.type, p.name, p.value, p.merged, p.publisher FROM dns_published p
			JOIN domains d ON d.name = p.domain WHERE d.account = ? ORDER BY p.domain, p.idx`
		pargs = []any{account}
	}
	if err := s.readPublished(ctx, ds, pq, pargs...); err != nil {
		return nil, fmt.Errorf("sqlite: list domains: %w", err)
	}
	return ds, nil
}

// queryDomains runs a domainSelect query, ordered by domain, and groups
// its rows into domains.
func (s *Store) queryDomains(ctx context.Context, q string, args ...any) ([]*domain.Domain, error) {
	rows, err := s.query(ctx, q, args...) // kept statement: GetDomain runs per message
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*domain.Domain{}
	var cur *domain.Domain
	for rows.Next() {
		var name, acct string
		var created, version int64
		var sel, alg, priv, pub, state sql.NullString
		var kCreated, activated, retired sql.NullInt64
		if err := rows.Scan(&name, &acct, &created, &version, &sel, &alg, &priv, &pub,
			&kCreated, &state, &activated, &retired); err != nil {
			return nil, err
		}
		if cur == nil || cur.Name != name {
			cur = &domain.Domain{Name: name, Account: acct, Created: fromMS(created), Version: version}
			out = append(out, cur)
		}
		if !sel.Valid {
			continue
		}
		cur.Keys = append(cur.Keys, domain.Key{
			Selector:    sel.String,
			Algorithm:   domain.Algorithm(strings.ToLower(alg.String)),
			PrivateKey:  priv.String,
			PublicKey:   pub.String,
			Created:     fromMS(kCreated.Int64),
			State:       domain.KeyState(state.String),
			ActivatedAt: fromMS(activated.Int64),
			RetiredAt:   fromMS(retired.Int64),
		})
	}
	return out, rows.Err()
}
