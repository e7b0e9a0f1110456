package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/apiclient"
	"sendpool/internal/sandbox"
	"sendpool/internal/testenv"
)

// healthz returns GET /healthz's status and body.
func (e *env) healthz(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + e.http + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// stop ends the process as an operator would (SIGTERM), so that SQLite
// checkpoints its WAL into the database file.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("sendpool did not stop on SIGTERM")
	}
}

// TestCorruptStoreRefusesToStart: serve checks the embedded store at
// start and refuses a damaged file, naming it (issue 13: a corrupt file
// opened without complaint, then every message got 451 and /healthz said
// ok).
func TestCorruptStoreRefusesToStart(t *testing.T) {
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, "")
	p := e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	p.stop(t)

	db := filepath.Join(e.dataDir, "queue.db")
	f, err := os.OpenFile(db, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Pages 3 to 10 (of 4 KB): tables' and indexes' b-tree pages; page 1,
	// the header and schema, stays sound, so the file opens.
	if _, err := f.WriteAt([]byte(strings.Repeat("\xa5", 8*4096)), 2*4096); err != nil {
		t.Fatal(err)
	}
	f.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "serve", "-config", e.config).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("serve on a corrupt file: %v, want exit 1\n%s", err, out)
	}
	if !strings.Contains(string(out), db) || !strings.Contains(string(out), "corrupt") {
		t.Errorf("the message does not name the corrupt file %s:\n%s", db, out)
	}
}

// TestHealthStateDown: with the shared state's Redis gone, /healthz
// answers 503 naming the state; once Redis is back, ok again.
func TestHealthStateDown(t *testing.T) {
	r := testenv.StartRedis(t)
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"},
		fmt.Sprintf("[state]\nbackend = \"redis\"\nredis_url = %q\n", r.URL()))
	e.serve()
	if code, body := e.healthz(t); code != 200 || body != "ok" {
		t.Fatalf("healthz: %d %q, want 200 ok", code, body)
	}
	r.Stop()
	var code int
	var body string
	waitFor(t, 20*time.Second, "healthz to fail", func() bool {
		code, body = e.healthz(t)
		return code == http.StatusServiceUnavailable
	})
	if !strings.HasPrefix(body, "state: ") || strings.Contains(body, "store") || strings.Contains(body, "127.0.0.1") {
		t.Errorf("healthz with Redis down: %q, want only the state named, and no address", body)
	}
	r.Start()
	waitFor(t, 30*time.Second, "healthz ok again", func() bool {
		code, body = e.healthz(t)
		return code == 200
	})
}

// TestDiskReserve: on a small disk, under store.min_free_space new mail
// is refused (SMTP 452 4.3.1 at MAIL, HTTP 507) while the queued mail is
// delivered, even with the disk filled to the last byte; once space is
// freed, submission resumes without a restart, and nothing accepted is
// lost.
func TestDiskReserve(t *testing.T) {
	data := testenv.Tmpfs(t, 48<<20)
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"},
		"retry = [\"1s\"]\n[store]\nmin_free_space = \"16MB\"\n") // under [delivery]; reserve 8 MB
	writeFile(t, e.config, strings.Replace(readFile(t, e.config),
		fmt.Sprintf("data_dir = %q", e.dataDir), fmt.Sprintf("data_dir = %q", data), 1))
	e.dataDir = data
	sink := e.world.Sink("gmail.test")
	sink.SetRules(sandbox.Rule{Stage: sandbox.StageRcpt, Reply: "451 4.3.2 Try again later"})
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	waitFor(t, 10*time.Second, "the reserve file", func() bool {
		fi, err := os.Stat(filepath.Join(data, "space.reserve"))
		return err == nil && fi.Size() == 8<<20
	})

	const from = "sender@shop1.test"
	var accepted []string // every message a 250 was given for
	n := 0
	send := func() error {
		n++
		id := fmt.Sprintf("m%d", n)
		to := "user-" + id + "@gmail.test"
		err := submit(e.smtp, "shop1", "pw-shop1-secret", from, []string{to}, message(from, to, id))
		if err == nil {
			accepted = append(accepted, id)
		}
		return err
	}
	for range 3 {
		if err := send(); err != nil {
			t.Fatal(err)
		}
	}

	// Another program fills the disk to under min_free_space; the free
	// space is looked at once a second.
	fill(t, filepath.Join(data, "filler1"), free(t, data)-10<<20)
	var err error
	waitFor(t, 10*time.Second, "452 at MAIL", func() bool {
		err = send()
		var te *textproto.Error
		return errors.As(err, &te) && te.Code == 452
	})
	if !strings.Contains(err.Error(), "4.3.1") {
		t.Errorf("MAIL under min_free_space: %v, want 452 4.3.1", err)
	}
	_, err = e.api().Send(context.Background(), "shop1", "pw-shop1-secret",
		api.SendRequest{From: from, To: []string{"x@gmail.test"}, Raw: string(message(from, "x@gmail.test", "http"))})
	var ae *apiclient.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusInsufficientStorage || !strings.Contains(ae.Message, "452 4.3.1") {
		t.Errorf("/send under min_free_space: %v, want 507 with 452 4.3.1", err)
	}
	waitFor(t, 10*time.Second, "healthz naming the disk", func() bool {
		code, body := e.healthz(t)
		return code == 503 && strings.HasPrefix(body, "disk: ")
	})

	// Then to the last byte: the reserve is what the store writes with.
	fill(t, filepath.Join(data, "filler2"), -1)
	sink.SetRules()
	queued := len(accepted)
	waitFor(t, 30*time.Second, "the queued mail delivered with the disk full", func() bool {
		return len(sink.Messages()) >= queued
	})

	os.Remove(filepath.Join(data, "filler1"))
	os.Remove(filepath.Join(data, "filler2"))
	waitFor(t, 10*time.Second, "submission to resume", func() bool { return send() == nil })
	waitFor(t, 30*time.Second, "every accepted message delivered", func() bool {
		return len(sink.Messages()) >= len(accepted)
	})
	time.Sleep(300 * time.Millisecond) // let any duplicate show up
	got := map[string]int{}
	for _, id := range messageIDs(sink) {
		got[id]++
	}
	for _, id := range accepted {
		if got[id] != 1 {
			t.Errorf("%s delivered %d times, want once (all: %v)", id, got[id], got)
		}
	}
	if len(got) != len(accepted) {
		t.Errorf("%d messages delivered, %d accepted", len(got), len(accepted))
	}
	t.Logf("%d accepted (%d while the disk was filling), all delivered once", len(accepted), queued-3)
}

// free is the bytes free on dir's filesystem.
func free(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// fill writes n bytes to path, or until the disk is full if n < 0.
func fill(t *testing.T, path string, n int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for n != 0 {
		k := int64(len(chunk))
		if n > 0 {
			k = min(k, n)
		}
		w, err := f.Write(chunk[:k])
		if errors.Is(err, syscall.ENOSPC) && n < 0 {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			n -= int64(w)
		}
	}
}
