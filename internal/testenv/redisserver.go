package testenv

import (
	"fmt"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// RedisServer is a throwaway redis-server of one test, on a free loopback
// port, for a test that stops it: the shared test Redis is never stopped.
type RedisServer struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	aof  bool // append-only file: a restart finds the data again

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartRedis starts a throwaway redis-server (no persistence) and stops it
// when the test ends. It needs the redis-server that the Redis service
// script installs; without it the test skips, or fails in CI.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	return startRedis(t, false)
}

// StartRedisAOF is StartRedis with persistence as a production Redis
// has it (an append-only file, fsync every second): after Stop, Start
// finds the data again, all but the last second's.
func StartRedisAOF(t testing.TB) *RedisServer {
	t.Helper()
	return startRedis(t, true)
}

func startRedis(t testing.TB, aof bool) *RedisServer {
	t.Helper()
	Redis(t) // the same requirement as the shared one
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	port := restartablePort(t)
	r := &RedisServer{t: t, bin: bin, port: port, dir: t.TempDir(), aof: aof}
	t.Cleanup(r.Stop)
	r.Start()
	return r
}

// URL is the server's redis:// URL.
func (r *RedisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// Start starts the server (again, on the same port: empty, or with its
// data with StartRedisAOF) and waits until it accepts connections.
func (r *RedisServer) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	appendonly := "no"
	if r.aof {
		appendonly = "yes"
	}
	cmd := exec.Command(r.bin, "--bind", "127.0.0.1", "--port", fmt.Sprint(r.port),
		"--save", "", "--appendonly", appendonly, "--appendfsync", "everysec", "--dir", r.dir)
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.cmd = cmd
	addr := fmt.Sprintf("127.0.0.1:%d", r.port)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s did not start: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL), if it runs, and waits for it to exit.
func (r *RedisServer) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.cmd = nil
}
