package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/testenv"
)

// TestFullDisk: on a disk filled by Puts, the writes that free space
// (leases, reports, deletes) still go through once OnFull releases a
// reserve, though they shared transactions with the failing Puts; and
// once space is freed a Put succeeds again. Without the reserve every one
// of them fails (full.go).
func TestFullDisk(t *testing.T) {
	dir := testenv.Tmpfs(t, 16<<20)
	reserve := filepath.Join(dir, "reserve")
	if err := os.WriteFile(reserve, make([]byte, 6<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	var released atomic.Int32
	s, err := Open(filepath.Join(dir, "queue.db"), Options{OnFull: func() bool {
		if os.Remove(reserve) != nil {
			return false
		}
		released.Add(1)
		return true
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()

	body := []byte(strings.Repeat("x", 4<<10))
	var ids []string
	for len(ids) < 100000 {
		m := &queue.Message{Account: "acme", From: "a@acme.test", Body: body,
			Recipients: []string{"r@one.test"}, Expires: time.Now().Add(time.Hour)}
		err := s.Put(ctx, m)
		if err != nil {
			if resultCode(err) != codeFull {
				t.Fatalf("Put %d: %v, want SQLITE_FULL", len(ids), err)
			}
			break
		}
		ids = append(ids, m.ID)
	}
	if released.Load() != 1 {
		t.Fatalf("reserve released %d times on the first full write, want once", released.Load())
	}
	t.Logf("%d messages of 4 KB filled the disk", len(ids))

	leases, err := s.Lease(ctx, "n1", time.Now(), time.Minute, 10)
	if err != nil || len(leases) != 10 {
		t.Fatalf("Lease on a full disk: %d, %v", len(leases), err)
	}
	for i := range leases {
		o := queue.Outcome{Status: queue.StatusDelivered,
			Attempt: queue.Attempt{Time: time.Now(), SourceIP: "127.0.0.2", Response: "250 2.0.0 ok"}}
		if err := s.Report(ctx, &leases[i], o); err != nil {
			t.Fatalf("Report on a full disk: %v", err)
		}
	}
	for _, id := range ids[len(ids)-50:] {
		if err := s.Delete(ctx, id); err != nil {
			t.Fatalf("Delete on a full disk: %v", err)
		}
	}
	m := &queue.Message{Account: "acme", From: "a@acme.test", Body: body,
		Recipients: []string{"r@one.test"}, Expires: time.Now().Add(time.Hour)}
	if err := s.Put(ctx, m); err != nil {
		t.Errorf("Put after deletes freed space: %v", err)
	}
	if err := s.Probe(ctx, "n1"); err != nil {
		t.Errorf("Probe: %v", err)
	}
}

// TestCheckIntegrity: a file with a damaged page is reported corrupt
// (ErrCorrupt, naming SQLite's finding), and from then on Probe fails.
func TestCheckIntegrity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 50 {
		m := &queue.Message{Account: "acme", From: "a@acme.test", Body: []byte(strings.Repeat("y", 2000)),
			Recipients: []string{"r@one.test"}, Expires: time.Now().Add(time.Hour)}
		if err := s.Put(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CheckIntegrity(ctx); err != nil {
		t.Fatalf("a sound file: %v", err)
	}
	s.Close() // checkpoints the WAL into the file

	damage(t, path, 3)
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("Open reads only the schema, which is intact: %v", err)
	}
	defer s.Close()
	err = s.CheckIntegrity(ctx)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "page") {
		t.Fatalf("CheckIntegrity = %v, want ErrCorrupt naming a page", err)
	}
	if err := s.Probe(ctx, "n1"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Probe after the finding = %v, want ErrCorrupt", err)
	}

	// A check cut short by its context is no finding.
	s2, err := Open(filepath.Join(t.TempDir(), "q2.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s2.CheckIntegrity(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled check = %v, want context.Canceled", err)
	}
}

// damage overwrites page (1-based, 4 KB pages) of the file at path.
func damage(t *testing.T, path string, page int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(strings.Repeat("\xa5", 4096)), (page-1)*4096); err != nil {
		t.Fatal(err)
	}
}
