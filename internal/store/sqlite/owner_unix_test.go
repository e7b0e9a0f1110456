//go:build unix

package sqlite

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestBackupKeepsOwner: a backup run as root against a stopped store
// leaves the -wal and -shm files it needed to the store's owner, so that
// serve, running as that user, can still open its store.
func TestBackupKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to own files as another user")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "queue.db")
	s, err := Open(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	const nobody = 65534
	if err := os.Chown(src, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(t.Context(), src, filepath.Join(dir, "copy.db")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{src + "-wal", src + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			continue // the reader needed none
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody {
			t.Errorf("%s owned by %d:%d, want the store's %d:%d", f, st.Uid, st.Gid, nobody, nobody)
		}
	}
}
