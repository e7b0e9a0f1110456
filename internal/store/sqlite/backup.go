package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sendpool/internal/queue"
)

// BackupInfo is what Backup copied.
type BackupInfo struct {
	Messages   int64
	Deliveries map[queue.Status]int64 // by status
	Schema     int                    // migrations applied (PRAGMA user_version)
	Bytes      int64                  // the copy's size
	Took       time.Duration
}

// Backup writes a consistent copy of the store at src to dst while the
// store may be open and writing, in this process or another (serve).
//
// The copy is SQLite's VACUUM INTO run on a connection of its own: one
// read transaction, so the copy is the database as of its start, with
// every transaction committed before then (every message whose 250 was
// sent) and none after. Under WAL a reader never blocks the writer: serve
// goes on committing meanwhile; only checkpoints cannot move past the
// reader, so the -wal file grows until the copy ends.
//
// dst must not exist. The copy is written to a temporary file beside it
// (mode 0600: it holds password hashes), fsynced (VACUUM INTO does not
// sync), checked (PRAGMA quick_check), then linked into place, which fails
// rather than overwrite a file that appeared meanwhile.
func Backup(ctx context.Context, src, dst string) (BackupInfo, error) {
	start := time.Now()
	var info BackupInfo
	if _, err := os.Stat(src); err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return info, fmt.Errorf("sqlite: backup: %s exists: %w (choose a new name; a backup never overwrites)", dst, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	tmp, err := reserve(dst)
	if err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	defer os.Remove(tmp) // a no-op once linked into place and removed

	err = vacuumInto(ctx, src, tmp)
	sameOwner(src, src+"-wal", src+"-shm")
	if err != nil {
		return info, err
	}
	if err := syncFile(tmp); err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	if info, err = inspect(ctx, tmp); err != nil {
		return info, err
	}
	if err := os.Link(tmp, dst); err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := os.Remove(tmp); err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	// The new name must survive a crash too.
	if err := syncFile(filepath.Dir(dst)); err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	info.Took = time.Since(start)
	return info, nil
}

// reserve creates an empty, private temporary file beside dst (VACUUM INTO
// writes into an empty file) and returns its name.
func reserve(dst string) (string, error) {
	b := make([]byte, 6)
	rand.Read(b) // never fails (crypto/rand)
	name := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-"+hex.EncodeToString(b))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	return name, f.Close()
}

// vacuumInto copies src into the empty file tmp.
func vacuumInto(ctx context.Context, src, tmp string) error {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	// Read-only: the backup can change nothing in the live store, and
	// asks for no write lock that would wait on serve's writer.
	q.Set("mode", "ro")
	db, err := sql.Open("sqlite", "file:"+src+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("sqlite: backup: open %s: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return fmt.Errorf("sqlite: backup: copying %s: %w", src, err)
	}
	return db.Close()
}

// inspect checks the copy and counts what it holds.
func inspect(ctx context.Context, path string) (BackupInfo, error) {
	info := BackupInfo{Deliveries: map[queue.Status]int64{}}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil || check != "ok" {
		return info, fmt.Errorf("sqlite: backup: the copy fails its check: %v%s", err, strings.TrimPrefix(" "+check, " ok"))
	}
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&info.Schema); err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM messages").Scan(&info.Messages); err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	rows, err := db.QueryContext(ctx, "SELECT status, count(*) FROM deliveries GROUP BY status")
	if err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return info, fmt.Errorf("sqlite: backup: %w", err)
		}
		info.Deliveries[queue.Status(st)] = n
	}
	if err := rows.Err(); err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	info.Bytes = fi.Size()
	return info, nil
}

// syncFile fsyncs a file or a directory.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
