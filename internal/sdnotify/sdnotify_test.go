package sdnotify

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// listen opens a datagram socket as systemd does for a unit.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func receive(t *testing.T, l *net.UnixConn) string {
	t.Helper()
	l.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 4096)
	n, err := l.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:n])
}

func TestSend(t *testing.T) {
	for name, socket := range map[string]string{
		"path":     filepath.Join(t.TempDir(), "notify"),
		"abstract": fmt.Sprintf("@sendpool-sdnotify-test-%d", os.Getpid()),
	} {
		l := listen(t, socket)
		for _, state := range []string{Ready, Stopping} {
			if err := Send(socket, state); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got := receive(t, l); got != state {
				t.Errorf("%s: got %q, want %q", name, got, state)
			}
		}
	}
}

func TestSendWithoutSocket(t *testing.T) {
	if err := Send("", Ready); err != nil {
		t.Fatal(err)
	}
	if err := Send(filepath.Join(t.TempDir(), "nobody"), Ready); err == nil {
		t.Fatal("no error for a socket nobody listens on")
	}
}
