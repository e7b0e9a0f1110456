package sqlite

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"sendpool/internal/account"
)

// TestFailedOpDoesNotFailItsBatch runs one batch by hand: the failing op's
// own writes are undone, the others commit.
func TestFailedOpDoesNotFailItsBatch(t *testing.T) {
	s := openTest(t)
	insert := func(name string) func(tx *writeTx) error {
		return func(tx *writeTx) error {
			args, err := accountArgs(testAccount(name))
			if err != nil {
				return err
			}
			_, err = tx.Exec(`INSERT INTO accounts (`+accountColumns+`) VALUES (`+placeholders(len(args))+`)`, args...)
			return err
		}
	}
	boom := errors.New("boom")
	ops := []*op{
		{ctx: t.Context(), fn: insert("one")},
		{ctx: t.Context(), fn: func(tx *writeTx) error {
			if err := insert("half-done")(tx); err != nil {
				return err
			}
			return boom
		}},
		{ctx: t.Context(), fn: insert("one")}, // duplicate key: fails in SQLite
		{ctx: t.Context(), fn: insert("two")},
	}
	for _, o := range ops {
		o.done = make(chan error, 1)
	}
	s.commit(ops)
	var errs []error
	for _, o := range ops {
		errs = append(errs, <-o.done)
	}
	if errs[0] != nil || !errors.Is(errs[1], boom) || errs[2] == nil || errs[3] != nil {
		t.Fatalf("batch errors = %v, want nil, boom, a constraint error, nil", errs)
	}
	list, err := s.ListAccounts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range list {
		names = append(names, a.Name)
	}
	if !slices.Equal(names, []string{"one", "two"}) {
		t.Fatalf("accounts after the batch = %v, want [one two]", names)
	}
}

// TestConcurrentCreatesOneWins: of many creating one name at once, exactly
// one succeeds and the rest get ErrExists.
func TestConcurrentCreatesOneWins(t *testing.T) {
	s := openTest(t)
	const n = 20
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { errs <- s.CreateAccount(t.Context(), testAccount("same")) })
	}
	wg.Wait()
	close(errs)
	var ok, exists int
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, account.ErrExists):
			exists++
		default:
			t.Fatalf("CreateAccount: %v", err)
		}
	}
	if ok != 1 || exists != n-1 {
		t.Fatalf("%d created, %d ErrExists; want 1 and %d", ok, exists, n-1)
	}
}

// TestCancelledWaiterSkipped: an op whose context ended before the writer
// reached it is not run.
func TestCancelledWaiterSkipped(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	o := &op{ctx: ctx, fn: func(*writeTx) error { ran = true; return nil }, done: make(chan error, 1)}
	s.commit([]*op{o})
	if err := <-o.done; !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("cancelled op: ran %v, err %v; want not run, context.Canceled", ran, err)
	}
}

// TestWriteAfterClose fails cleanly.
func TestWriteAfterClose(t *testing.T) {
	s := openTest(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(t.Context(), testAccount("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close: %v, want ErrClosed", err)
	}
}

// TestPragmas: the durability settings took effect on the writer.
func TestPragmas(t *testing.T) {
	s := openTest(t)
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"foreign_keys": "1",
	} {
		var got string
		err := s.write(t.Context(), func(tx *writeTx) error {
			return tx.QueryRow(`PRAGMA ` + pragma).Scan(&got)
		})
		if err != nil || got != want {
			t.Errorf("PRAGMA %s = %q, %v; want %q", pragma, got, err, want)
		}
	}
}
