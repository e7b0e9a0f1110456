//go:build unix

package deliver

import "syscall"

// peekConn looks at the socket without reading from it or waiting: alive
// when nothing is there to read yet (EAGAIN); dead when the peer closed
// (a zero-byte read), sent something, or the socket failed.
func peekConn(sc syscall.Conn) bool {
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true // done either way: never wait for readiness
	})
	return err == nil && ok
}
