package sqlite

import (
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// backupMessages is how many messages TestBackupWhileWriting's store holds
// before the copy; SENDPOOL_BACKUP_MESSAGES=50000 makes it the size the
// operations notes quote.
func backupMessages(t *testing.T) int {
	if v := os.Getenv("SENDPOOL_BACKUP_MESSAGES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("SENDPOOL_BACKUP_MESSAGES=%q", v)
		}
		return n
	}
	return 5000
}

// TestBackupWhileWriting: a copy taken while Puts keep coming holds every
// message whose Put returned before the copy began, and the writer is
// not held up meanwhile: no Put waits on the copy.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "queue.db")
	s, err := Open(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := backupMessages(t)
	bulkInsert(t, s, n, queue.StatusDeferred, time.Now().Add(time.Hour))

	var (
		mu        sync.Mutex
		acked     []string        // ids whose Put returned, in order
		latencies []time.Duration // of every Put, with when it began
		began     []time.Time
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 { // four submitters, as concurrent SMTP sessions are
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				m := &queue.Message{Account: "acme", From: "a@acme.test", Body: make([]byte, 4096),
					Recipients: []string{"r@one.test"}, Expires: time.Now().Add(72 * time.Hour)}
				t0 := time.Now()
				if err := s.Put(t.Context(), m); err != nil {
					t.Error(err)
					return
				}
				d := time.Since(t0)
				mu.Lock()
				acked, latencies, began = append(acked, m.ID), append(latencies, d), append(began, t0)
				mu.Unlock()
			}
		})
	}
	time.Sleep(500 * time.Millisecond) // the writer at its pace
	mu.Lock()
	before := slices.Clone(acked)
	mu.Unlock()
	start := time.Now()
	dst := filepath.Join(dir, "copy.db")
	info, err := Backup(t.Context(), src, dst)
	end := time.Now()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", "file:"+dst+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	have := map[string]bool{}
	rows, err := db.Query("SELECT id FROM messages")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		have[id] = true
	}
	rows.Close()
	for _, id := range before {
		if !have[id] {
			t.Errorf("message %s, stored before the backup began, is not in the copy", id)
		}
	}
	if int64(len(have)) != info.Messages || info.Messages < int64(n+len(before)) {
		t.Errorf("copy holds %d messages, info says %d, want at least %d", len(have), info.Messages, n+len(before))
	}
	if info.Deliveries[queue.StatusDeferred] != int64(n) || info.Schema != len(migrations) || info.Bytes == 0 {
		t.Errorf("info = %+v", info)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("copy's mode: %v %v", fi.Mode(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".copy.db.tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// The writer went on committing throughout: Puts began and ended
	// while the copy's read transaction was open. How long they took is
	// logged (operations.md quotes it): slower than before the copy only
	// by the disk and CPU the copy shares, not by waiting for it.
	var base, during []time.Duration
	for i, b := range began {
		switch {
		case b.Before(start):
			base = append(base, latencies[i])
		case b.Add(latencies[i]).Before(end):
			during = append(during, latencies[i])
		}
	}
	if len(during) == 0 || len(base) == 0 {
		t.Fatalf("%d Puts before and %d within the %v copy: the writer waited for it", len(base), len(during), end.Sub(start))
	}
	slices.Sort(base)
	slices.Sort(during)
	t.Logf("copy of %d messages (%d bytes) took %v; Puts before it: %d, p50 %v, max %v; within it: %d, p50 %v, p99 %v, max %v",
		info.Messages, info.Bytes, info.Took, len(base), base[len(base)/2], base[len(base)-1],
		len(during), during[len(during)/2], during[len(during)*99/100], during[len(during)-1])
}

// TestBackupNeverOverwrites: an existing destination is refused and left
// as it was.
func TestBackupNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "queue.db")
	s, err := Open(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dst := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(dst, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(t.Context(), src, dst); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("err = %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "precious" {
		t.Errorf("destination changed: %q", b)
	}
	if _, err := Backup(t.Context(), filepath.Join(dir, "none.db"), filepath.Join(dir, "x.db")); err == nil {
		t.Error("no error for a missing store")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
