package sqlite

import (
	"path/filepath"
	"testing"

	"sendpool/internal/suppression"
	"sendpool/internal/suppression/suppressiontest"
	"sendpool/internal/testclock"
)

// TestSuppressions runs the suppression.Store conformance suite.
func TestSuppressions(t *testing.T) {
	suppressiontest.Run(t, func(t *testing.T) suppression.Store { return openTest(t) })
}

// TestSuppressionsSchemaWhateverTheVersion: a database whose user_version
// says every migration ran but which lacks the suppressions table (made by
// a branch without it, or numbered over by another branch's step) gets it
// at the next open, and what it holds stays.
func TestSuppressionsSchemaWhateverTheVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := testclock.New().Now()
	if err := s.CreateAccount(t.Context(), testAccount("shop1")); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP INDEX suppressions_created`, `DROP TABLE suppressions`} {
		if err := s.write(t.Context(), func(tx *writeTx) error { _, err := tx.Exec(q); return err }); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if _, err := s.GetAccount(t.Context(), "shop1"); err != nil {
		t.Fatalf("account after reopen: %v", err)
	}
	if err := s.PutSuppression(t.Context(), suppressiontest.Entry("shop1", "bob@gmail.test", now)); err != nil {
		t.Fatalf("PutSuppression after reopen: %v", err)
	}
	var n int
	if err := s.r.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'suppressions_created'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("suppressions_created index after reopen: %d, %v", n, err)
	}
}
