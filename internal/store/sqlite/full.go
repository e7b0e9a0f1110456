package sqlite

import "errors"

// SQLite's primary result codes (sqlite3.h) that the store acts on.
const (
	codeCorrupt = 11 // SQLITE_CORRUPT: the file is damaged
	codeFull    = 13 // SQLITE_FULL: no room on the disk
	codeNotADB  = 26 // SQLITE_NOTADB: not a database at all
)

// resultCode returns err's primary SQLite result code, 0 if it has none.
func resultCode(err error) int {
	var c interface{ Code() int }
	if errors.As(err, &c) {
		return c.Code() & 0xff // an extended code keeps the primary in its low byte
	}
	return 0
}

// noteErr remembers the first corruption SQLite reports: the health check
// then fails (Probe) until the file is restored, and the log says so
// once.
func (s *Store) noteErr(err error) {
	if c := resultCode(err); c != codeCorrupt && c != codeNotADB {
		return
	}
	msg := err.Error()
	if s.corrupt.CompareAndSwap(nil, &msg) {
		s.log.Error("sqlite: the database file is corrupt: restore it from a backup (sendpool backup)",
			"file", s.path, "err", err)
	}
}

// retryFull tries again, in a transaction of their own, the ops of a batch
// that failed for lack of disk space and add no mail: recording a
// delivery, deleting or purging a message is what frees space, so it must
// not fail with the Put it shared a transaction with. Before that the
// Options.OnFull hook frees what it can (internal/diskspace's reserve).
// Puts keep their error: intake answers 451 and the client retries.
//
// Measured on a full 2 MB tmpfs: once the WAL has used the disk up, every
// write fails (Put, Lease, Report, Delete), as no checkpoint can run
// either; with a reserve to release they go through.
func (s *Store) retryFull(batch []*op, errs []error) {
	var again []*op
	var at []int
	full := false
	for i, err := range errs {
		if resultCode(err) != codeFull {
			continue
		}
		full = true
		if !batch[i].grows {
			again = append(again, batch[i])
			at = append(at, i)
		}
	}
	if !full {
		return
	}
	freed := s.onFull != nil && s.onFull()
	// The WAL only grows until a checkpoint copies it back into the
	// database file; with the disk full the automatic one cannot run
	// (the file may have to grow), so the room just freed goes to one
	// now, which then gives the WAL's own space back (TRUNCATE).
	if _, err := s.tx.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		s.log.Warn("sqlite: checkpoint on a full disk", "err", err)
	}
	if len(again) == 0 {
		return
	}
	s.log.Warn("sqlite: disk full: trying again the writes that add no mail",
		"ops", len(again), "space_freed", freed)
	for j, err := range s.run1(again) {
		errs[at[j]] = err
	}
}
