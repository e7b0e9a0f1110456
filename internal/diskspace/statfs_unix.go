//go:build linux || darwin || freebsd

package diskspace

import "syscall"

// available returns the bytes an unprivileged process may still write on
// dir's filesystem (f_bavail: the blocks root keeps back do not count).
func available(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
