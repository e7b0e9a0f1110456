package testenv

import (
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// RedisServer is a throwaway redis-server of one test, on a free loopback
// port, for a test that stops it: the shared test Redis is never stopped.
type RedisServer struct {
	server
	bin string
	dir string
	aof bool // append-only file: a restart finds the data again
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
	r := &RedisServer{server: server{t: t, name: "redis-server", port: port}, bin: bin, dir: t.TempDir(), aof: aof}
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
	appendonly := "no"
	if r.aof {
		appendonly = "yes"
	}
	r.start(func() *exec.Cmd {
		return exec.Command(r.bin, "--bind", "127.0.0.1", "--port", fmt.Sprint(r.port),
			"--save", "", "--appendonly", appendonly, "--appendfsync", "everysec", "--dir", r.dir)
	}, 5*time.Second)
}
