// Package sqlite is the embedded durable queue and account store: one SQLite
// file in WAL mode (modernc.org/sqlite, pure Go), for a single node.
//
// Every write goes through one writer goroutine that commits whatever
// operations are waiting in one transaction (group commit), so concurrent
// submissions share one fsync. With synchronous=FULL a committed transaction
// survives kill -9 and power loss, which is what a 250 reply promises
// (SPEC §3). Reads use a separate pool of read-only connections: WAL lets
// them run beside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"sendpool/internal/account"
	"sendpool/internal/queue"
)

// Options configure a Store.
type Options struct {
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now; the clock of Put, Release, Retry, ReleaseOwner
	// OnFull is called when a write failed for lack of disk space; it
	// frees what it can (internal/diskspace's reserve) and reports whether
	// it did. The writes that do not add mail are then tried again
	// (full.go). nil: they are tried again once all the same.
	OnFull func() bool
	// BodyCache is how many bytes of the bodies this store wrote last it
	// keeps in memory for their delivery (queue.RecentBodies); 0: none.
	BodyCache int64
}

// Store is the SQLite queue.Store and account.Store.
type Store struct {
	log    *slog.Logger
	now    func() time.Time
	path   string
	onFull func() bool
	// corrupt is the first corruption SQLite reported (full.go), for the
	// health check; nil while none.
	corrupt atomic.Pointer[string]
	bodies  *queue.RecentBodies // the bodies Put wrote last

	w  *sql.DB  // one connection, used only by the writer goroutine
	tx *writeTx // that connection, held for good
	r  *sql.DB  // read-only pool

	reads readStmts // r's kept statements (readstmt.go)

	ops       chan *op
	quit      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

var (
	_ queue.Store   = (*Store)(nil)
	_ account.Store = (*Store)(nil)
)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("sqlite: store closed")

// busyTimeout is how long a connection waits for a lock held by another
// connection (another Store on the same file, or a checkpoint) before failing.
const busyTimeout = 10 * time.Second

// readers is the size of the read pool.
const readers = 8

// Open opens (creating if needed) the database at path and migrates its
// schema.
func Open(path string, opts Options) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: bad path %q", path)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// The file holds password hashes: create it private. SQLite gives its
	// -wal and -shm files the main file's permissions.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "1")
	q.Set("_journal_mode", "WAL")
	// FULL: WAL commits are fsynced before COMMIT returns (NORMAL would only
	// sync at checkpoints and could lose the last transactions on power loss).
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", "immediate")
	// Statement journals (a statement's undo inside a larger transaction,
	// as each Put is inside a group commit) in memory: as temporary files
	// they cost a write(2) per page and per 4-byte page number. They last
	// one statement and hold only the pages it changed.
	q.Add("_pragma", "temp_store(MEMORY)")
	w, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(w); err != nil {
		w.Close()
		if c := resultCode(err); c == codeCorrupt || c == codeNotADB {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}

	conn, err := w.Conn(context.Background())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}

	q.Del("_journal_mode") // persistent, set by the writer; readers must not try to change it
	q.Del("_txlock")
	q.Set("_query_only", "1")
	r, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		conn.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)

	s := &Store{
		log:     opts.Logger,
		now:     opts.Now,
		path:    path,
		onFull:  opts.OnFull,
		bodies:  queue.NewRecentBodies(opts.BodyCache),
		w:       w,
		tx:      &writeTx{c: conn, stmts: map[string]*sql.Stmt{}},
		r:       r,
		ops:     make(chan *op),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go s.run()
	s.log.Debug("sqlite store open", "path", path, "schema_version", len(migrations))
	return s, nil
}

// Close stops the writer (writes in flight are finished and answered first)
// and closes the database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.quit)
		<-s.stopped
		err = errors.Join(s.reads.close(), s.r.Close(), s.tx.close(), s.w.Close())
	})
	return err
}

// ms converts a time to the stored form, unix milliseconds; the zero time is 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS is the inverse of ms.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}
