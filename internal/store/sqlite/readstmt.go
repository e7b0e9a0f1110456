package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// readStmts keeps the read pool's prepared statements: parsing a query
// costs more than running the small ones every message makes (GetAccount
// at intake, Body at delivery), as the bench's profile showed. database/sql
// prepares a kept statement again on each pool connection as needed.
type readStmts struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// queryRow runs q, a constant query, on the read pool as a kept statement.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.reads.stmt(ctx, s.r, q)
	if err != nil {
		// A *sql.Row cannot carry an error: run it unprepared, which
		// reports the same error through Scan.
		return s.r.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs q, a constant query, on the read pool as a kept statement;
// the caller closes the rows.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.reads.stmt(ctx, s.r, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (rs *readStmts) stmt(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if st, ok := rs.m[q]; ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if rs.m == nil {
		rs.m = map[string]*sql.Stmt{}
	}
	rs.m[q] = st
	return st, nil
}

// close releases the statements.
func (rs *readStmts) close() error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var errs []error
	for _, st := range rs.m {
		errs = append(errs, st.Close())
	}
	rs.m = nil
	return errors.Join(errs...)
}
