package testenv

import (
	"fmt"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// server is a throwaway server process of one test on a fixed loopback
// port, that the test may kill and start again (RedisServer,
// FerretDBServer).
type server struct {
	t    testing.TB
	name string
	port int

	mu  sync.Mutex
	cmd *exec.Cmd
}

// start runs the command cmd makes, unless the server runs, and waits up
// to wait until it accepts connections on its port.
func (s *server) start(cmd func() *exec.Cmd, wait time.Duration) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	c := cmd()
	if err := c.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = c
	addr := fmt.Sprintf("127.0.0.1:%d", s.port)
	deadline := time.Now().Add(wait)
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s on %s did not start: %v", s.name, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL), if it runs, and waits for it to exit.
func (s *server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}
