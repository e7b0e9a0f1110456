//go:build unix

package sqlite

import (
	"os"
	"syscall"
)

// sameOwner gives each of files, where it exists, the owner of ref. A
// backup run as root against a stopped store creates queue.db's -wal and
// -shm files (a WAL reader needs them); left to root, they would keep
// serve, running as its own user, from opening its store.
func sameOwner(ref string, files ...string) {
	fi, err := os.Stat(ref)
	if err != nil {
		return
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			if s, ok := fi.Sys().(*syscall.Stat_t); ok && (s.Uid != st.Uid || s.Gid != st.Gid) {
				os.Chown(f, int(st.Uid), int(st.Gid)) // only root can, and only root needs to
			}
		}
	}
}
