package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// maxBatch bounds how many operations share one transaction, so that one
// commit's latency stays bounded under a flood.
const maxBatch = 512

// op is one write waiting for the writer.
type op struct {
	ctx  context.Context
	fn   func(tx *writeTx) error
	done chan error // buffered: the writer never blocks on an abandoned waiter
	// grows: the op adds mail (Put). When the disk is full it is not
	// tried again, so that the writes that free space can go (full.go).
	grows bool
}

// write runs fn in the writer's next transaction and returns once that
// transaction is committed (fn's error, or the commit's). If ctx ends while
// the op is still waiting, it is skipped; once it has started, the caller
// may return early but the outcome stands.
func (s *Store) write(ctx context.Context, fn func(tx *writeTx) error) error {
	return s.enqueue(&op{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// writeGrowing is write for an op that adds mail (op.grows).
func (s *Store) writeGrowing(ctx context.Context, fn func(tx *writeTx) error) error {
	return s.enqueue(&op{ctx: ctx, fn: fn, done: make(chan error, 1), grows: true})
}

func (s *Store) enqueue(o *op) error {
	ctx := o.ctx
	select {
	case s.ops <- o:
	case <-s.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the writer goroutine: take one op, then every op already waiting
// (senders blocked on the unbuffered channel), and commit them together.
func (s *Store) run() {
	defer close(s.stopped)
	for {
		var batch []*op
		select {
		case o := <-s.ops:
			batch = append(batch, o)
		case <-s.quit:
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break drain
			}
		}
		s.commit(batch)
	}
}

// commit runs batch in one transaction and answers every op. When the
// disk is full, the ops that do not add mail are tried again (full.go).
func (s *Store) commit(batch []*op) {
	errs := s.run1(batch)
	s.retryFull(batch, errs)
	for i, o := range batch {
		o.done <- errs[i]
	}
}

// run1 runs batch in one transaction and returns each op's error. Each op
// runs inside its own savepoint so a failing op is undone alone and the
// others still commit.
func (s *Store) run1(batch []*op) []error {
	errs := make([]error, len(batch))
	fail := func(err error) {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	tx := s.tx
	if _, err := tx.Exec(`BEGIN IMMEDIATE`); err != nil {
		s.noteErr(err)
		s.log.Error("sqlite: begin", "err", err)
		fail(fmt.Errorf("sqlite: begin: %w", err))
		return errs
	}
	abort := func(what string, err error) {
		// SQLite may have rolled back already (a full disk does).
		if _, rerr := tx.Exec(`ROLLBACK`); rerr != nil && resultCode(err) != codeFull {
			s.log.Error("sqlite: rollback", "err", rerr)
		}
		s.noteErr(err)
		s.log.Error("sqlite: "+what, "err", err, "ops", len(batch))
		fail(fmt.Errorf("sqlite: %s: %w", what, err))
	}
	for i, o := range batch {
		if err := o.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := tx.Exec(`SAVEPOINT op`); err != nil {
			abort("savepoint", err)
			return errs
		}
		errs[i] = o.fn(tx)
		if errs[i] != nil {
			s.noteErr(errs[i])
			if _, err := tx.Exec(`ROLLBACK TO op`); err != nil {
				abort("rollback to savepoint", err)
				return errs
			}
		}
		if _, err := tx.Exec(`RELEASE op`); err != nil {
			abort("release savepoint", err)
			return errs
		}
	}
	// Ops that failed were undone by their savepoints; if the commit fails
	// the rest fail with it.
	if _, err := tx.Exec(`COMMIT`); err != nil {
		abort("commit", err)
	}
	return errs
}

// writeTx is the writer's connection inside a transaction. It prepares each
// statement once and keeps it: parsing SQL costs more than running these
// small statements.
type writeTx struct {
	c     *sql.Conn
	stmts map[string]*sql.Stmt
}

func (t *writeTx) stmt(q string) (*sql.Stmt, error) {
	if st, ok := t.stmts[q]; ok {
		return st, nil
	}
	st, err := t.c.PrepareContext(context.Background(), q)
	if err != nil {
		return nil, err
	}
	t.stmts[q] = st
	return st, nil
}

// Exec runs a statement. The context is Background: one caller's
// cancellation must not abort the others' work in the batch.
func (t *writeTx) Exec(q string, args ...any) (sql.Result, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(context.Background(), args...)
}

// Query runs a query; the caller closes the rows.
func (t *writeTx) Query(q string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(context.Background(), args...)
}

// QueryRow runs a query for one row.
func (t *writeTx) QueryRow(q string, args ...any) *sql.Row {
	st, err := t.stmt(q)
	if err != nil {
		// A *sql.Row cannot be made with an error; a failed prepare
		// surfaces again, as the row's error, from the connection.
		return t.c.QueryRowContext(context.Background(), q, args...)
	}
	return st.QueryRowContext(context.Background(), args...)
}

// close releases the statements and the connection.
func (t *writeTx) close() error {
	var errs []error
	for _, st := range t.stmts {
		errs = append(errs, st.Close())
	}
	errs = append(errs, t.c.Close())
	return errors.Join(errs...)
}

// errNoRows maps sql.ErrNoRows to err.
func errNoRows(got, err error) error {
	if errors.Is(got, sql.ErrNoRows) {
		return err
	}
	return got
}
