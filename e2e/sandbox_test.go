package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"sendpool/internal/apiclient"
	"sendpool/internal/queue"
)

// TestSandboxSwaksLine: `sendpool sandbox` prints a swaks line that works as
// printed: the message is accepted and delivered to the gmail.test sink.
func TestSandboxSwaksLine(t *testing.T) {
	if _, err := exec.LookPath("swaks"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("swaks is not installed (scripts/test installs it)")
		}
		t.Skip("swaks is not installed")
	}
	smtpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(binary, "sandbox", "-smtp", smtpAddr, "-http", httpAddr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("sandbox log:\n%s", logs.String())
		}
	})

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var swaks, token string
	timeout := time.After(20 * time.Second)
	for swaks == "" || token == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("sandbox exited before printing a swaks line and the admin token")
			}
			s := strings.TrimSpace(l)
			if strings.HasPrefix(s, "swaks ") {
				swaks = s
			}
			if rest, ok := strings.CutPrefix(s, "admin token: "); ok {
				token, _, _ = strings.Cut(rest, " ")
			}
		case <-timeout:
			t.Fatal("no swaks line or admin token printed")
		}
	}
	go func() {
		for range lines {
		}
	}()

	out, err := exec.Command("sh", "-c", swaks).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", swaks, err, out)
	}
	if !strings.Contains(string(out), "250 2.0.0 Ok: queued as ") {
		t.Fatalf("swaks output has no queued reply:\n%s", out)
	}

	// The sandbox's API wants the token it printed, even from loopback.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := apiclient.New("http://"+httpAddr, "").Accounts(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("API without the token: %v, want 401", err)
	}
	c := apiclient.New("http://"+httpAddr, token)
	waitFor(t, 20*time.Second, "the swaks message delivered", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		list, err := c.Messages(ctx, queue.Filter{Status: queue.StatusDelivered})
		return err == nil && len(list) == 1
	})
}
