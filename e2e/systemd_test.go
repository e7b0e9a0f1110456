package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"sendpool/internal/buildinfo"
)

// TestServeNotifiesSystemd: under a Type=notify unit, serve says READY=1
// on $NOTIFY_SOCKET once its listeners take connections, and STOPPING=1
// on SIGTERM before it exits cleanly. Its first log line and /metrics name
// the build, as `sendpool version` does.
func TestServeNotifiesSystemd(t *testing.T) {
	e := newEnv(t, map[string]string{"any.test": "127.0.0.41"}, "")
	sock := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := exec.Command(binary, "serve", "-config", e.config)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, out: &stderr}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("sendpool output:\n%s%s", stdout.String(), stderr.String())
		}
	})
	read := func(want string) {
		t.Helper()
		l.SetReadDeadline(time.Now().Add(20 * time.Second))
		b := make([]byte, 1024)
		n, err := l.Read(b)
		if err != nil || string(b[:n]) != want {
			t.Fatalf("notify socket: %q, %v; want %q", b[:n], err, want)
		}
	}
	read("READY=1")
	// Ready means ready: both listeners answer at once.
	for _, addr := range []string{e.smtp, e.http} {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatalf("READY=1 sent, but %s refuses: %v", addr, err)
		}
		c.Close()
	}

	bi := buildOf(t)
	first, _, _ := strings.Cut(stderr.String(), "\n")
	for _, want := range []string{"msg=starting", "version=" + bi.Version, "commit=" + bi.CommitLabel(), "go=" + runtime.Version()} {
		if !strings.Contains(first, want) {
			t.Errorf("first log line %q lacks %q", first, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	metrics, err := e.api().Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`sendpool_build_info{commit=%q,goversion=%q,version=%q} 1`, bi.CommitLabel(), runtime.Version(), bi.Version)
	if !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s", want)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	read("STOPPING=1")
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
}

// buildOf is what `sendpool version -json` says of the binary.
func buildOf(t *testing.T) buildinfo.Info {
	t.Helper()
	out, err := exec.Command(binary, "version", "-json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var bi buildinfo.Info
	if err := json.Unmarshal(out, &bi); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return bi
}

// TestVersionOfReleaseBuild: the e2e binary, built as the README says,
// reports itself static, with its version, commit and Go version.
func TestVersionOfReleaseBuild(t *testing.T) {
	out, err := exec.Command(binary, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	bi := buildOf(t)
	if bi.Version == "" || !bi.Static || bi.GoVersion != runtime.Version() {
		t.Errorf("version -json: %+v", bi)
	}
	for _, want := range []string{"sendpool " + bi.Version + "\n", "commit:  ", "go:      " + runtime.Version(), "static:  yes\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("version lacks %q:\n%s", want, out)
		}
	}
}
