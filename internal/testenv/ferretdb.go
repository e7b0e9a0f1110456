package testenv

import (
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// FerretDBVersion is the FerretDB that scripts/services/ferretdb builds
// (with its _id lookup patch: the "-idx" cache entry).
const FerretDBVersion = "v1.24.2"

// FerretDBServer is a throwaway FerretDB of one test (SQLite backend, its
// data in a directory of the test), on a free loopback port, for a test
// that kills it: the shared test FerretDB is never stopped.
type FerretDBServer struct {
	server
	bin string
	dir string
}

// StartFerretDB starts a throwaway FerretDB and stops it when the test
// ends. It needs the binary that the FerretDB service script builds, found
// where the script keeps it; without the service the test skips, or fails
// in CI, and without the binary it fails.
func StartFerretDB(t testing.TB) *FerretDBServer {
	t.Helper()
	MongoDB(t) // the same requirement as the shared one
	bin := FerretDBBinary()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("ferretdb: %v (scripts/services/ferretdb builds it)", err)
	}
	port := restartablePort(t)
	f := &FerretDBServer{server: server{t: t, name: "ferretdb", port: port}, bin: bin, dir: t.TempDir()}
	if err := os.Mkdir(filepath.Join(f.dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	f.Start()
	return f
}

// FerretDBBinary is where scripts/services/ferretdb keeps the binary:
// ${XDG_CACHE_HOME:-$HOME/.cache}/sendpool/ferretdb-VERSION-idx/ferretdb.
func FerretDBBinary() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "sendpool", "ferretdb-"+FerretDBVersion+"-idx", "ferretdb")
}

// URI is the server's mongodb:// URI, without a database.
func (f *FerretDBServer) URI() string { return fmt.Sprintf("mongodb://127.0.0.1:%d/", f.port) }

// Start starts the server (again, on the same port and data) and waits
// until it accepts connections.
func (f *FerretDBServer) Start() {
	f.t.Helper()
	// The flags of scripts/services/ferretdb; telemetry off, nothing
	// leaves loopback.
	f.start(func() *exec.Cmd {
		cmd := exec.Command(f.bin, "--handler=sqlite",
			"--sqlite-url=file:"+filepath.Join(f.dir, "data")+"/?_pragma=synchronous(off)",
			fmt.Sprintf("--listen-addr=127.0.0.1:%d", f.port), "--debug-addr=127.0.0.1:0",
			"--state-dir="+f.dir, "--telemetry=disable", "--log-level=warn")
		cmd.Env = append(os.Environ(), "DO_NOT_TRACK=1")
		return cmd
	}, 10*time.Second)
}

// restartablePort returns a loopback port free at the time of asking for a
// server that a test kills and starts again on it. It is drawn below
// Linux's ephemeral range (32768 and up): a port from that range may be
// taken meanwhile as the source port of an outgoing connection, and then
// the restarted server cannot bind it.
func restartablePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		port := 20000 + mrand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free port in 20000-31999 on 127.0.0.1")
	return 0
}
