package sqlite

import (
	"path/filepath"
	"testing"

	"sendpool/internal/domain"
	"sendpool/internal/domain/domaintest"
)

func TestDomainConformance(t *testing.T) {
	domaintest.Run(t, func(t *testing.T) domain.Store { return openTest(t) })
}

// TestDomainsSchemaWhateverTheVersion: a database whose user_version says
// every migration ran but which lacks the domain tables (another branch's
// migration took the same number), or has an older dkim_keys without a
// column, gets them at the next open, and its data is kept.
func TestDomainsSchemaWhateverTheVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := domaintest.NewDomain("shop.test", "shop")
	if err := s.CreateDomain(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	// Take retired_at away (as a table made before it existed) and drop
	// the domains index, without touching user_version.
	for _, q := range []string{
		`CREATE TABLE old_keys AS SELECT domain, idx, selector, algorithm, private_key, public_key,
			created, state, activated_at FROM dkim_keys`,
		`DROP TABLE dkim_keys`,
		`ALTER TABLE old_keys RENAME TO dkim_keys`,
		`DROP INDEX domains_account`,
	} {
		err := s.write(t.Context(), func(tx *writeTx) error { _, err := tx.Exec(q); return err })
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.GetDomain(t.Context(), "shop.test")
	if err != nil {
		t.Fatalf("GetDomain after reopen: %v", err)
	}
	if len(got.Keys) != len(d.Keys) || got.Keys[1].PublicKey != d.Keys[1].PublicKey {
		t.Fatalf("keys after reopen: %+v", got.Keys)
	}
	var n int
	if err := s.r.QueryRow(`SELECT count(*) FROM pragma_table_info('dkim_keys') WHERE name = 'retired_at'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("retired_at column after reopen: %d, %v", n, err)
	}
	if err := s.r.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'domains_account'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("domains_account index after reopen: %d, %v", n, err)
	}
}
