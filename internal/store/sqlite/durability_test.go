package sqlite

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// crashEnv names the database a child test process fills and then kills
// itself on.
const crashEnv = "SENDPOOL_SQLITE_CRASH_DB"

// TestDurableAcrossKill runs a child process that Puts messages from 20
// goroutines at once (so they share commits), prints each id once Put has
// returned, and SIGKILLs itself without closing the store. Every message it
// printed must be in the file, with its body.
func TestDurableAcrossKill(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the child")
	}
	path := filepath.Join(t.TempDir(), "queue.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err == nil || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v\n%s", err, out.String())
	}
	var acked []string
	for _, line := range strings.Split(out.String(), "\n") {
		if id, ok := strings.CutPrefix(line, "stored "); ok {
			acked = append(acked, id)
		}
	}
	if len(acked) != 20 {
		t.Fatalf("child acknowledged %d messages, want 20:\n%s", len(acked), out.String())
	}

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("open after kill: %v", err)
	}
	defer s.Close()
	for _, id := range acked {
		d, err := s.GetMessage(t.Context(), id)
		if err != nil {
			t.Fatalf("message %s acknowledged before the kill: %v", id, err)
		}
		b, err := s.Body(t.Context(), id)
		if err != nil || !bytes.Equal(b, crashBody(id)) || len(d.Recipients) != 1 {
			t.Fatalf("message %s after the kill: body %d bytes (%v), %d recipients", id, len(b), err, len(d.Recipients))
		}
	}
	ls, err := s.Lease(t.Context(), "after-crash", time.Now(), time.Minute, 100)
	if err != nil || len(ls) != len(acked) {
		t.Fatalf("leased %d after the kill (%v), want %d", len(ls), err, len(acked))
	}
}

// TestCrashChild is the child of TestDurableAcrossKill.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("only as the child of TestDurableAcrossKill")
	}
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			id := queue.NewID(time.Now())
			m := &queue.Message{ID: id, From: "a@acme.test", Body: crashBody(id),
				Recipients: []string{fmt.Sprintf("r%d@one.test", i)}}
			if err := s.Put(t.Context(), m); err != nil {
				fmt.Println("put:", err)
				return
			}
			mu.Lock()
			fmt.Println("stored " + id)
			mu.Unlock()
		})
	}
	wg.Wait()
	// No Close: the process dies as under kill -9.
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

func crashBody(id string) []byte {
	return bytes.Repeat([]byte("Subject: "+id+"\r\n"), 200)
}
