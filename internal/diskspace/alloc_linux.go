package diskspace

import (
	"os"
	"syscall"
)

// allocate takes size bytes of disk for f at once (fallocate: the blocks
// are the file's, without being written), where the filesystem can.
func allocate(f *os.File, size int64) error {
	return syscall.Fallocate(int(f.Fd()), 0, 0, size)
}
