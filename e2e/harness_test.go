// Package e2e runs the built sendpool binary against the loopback sandbox:
// real SMTP, real DNS, real sockets, real processes.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/apiclient"
	"sendpool/internal/sandbox"
	"sendpool/internal/testenv"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sendpool-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sendpool")
	// The release build (README): static, no cgo, no local paths.
	build := exec.Command("go", "build", "-trimpath", "-o", binary, "../cmd/sendpool")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback port free at the time of asking, for a
// process the test starts to listen on. It is drawn at random below
// Linux's ephemeral range (32768 and up): a port from that range may be
// taken meanwhile as the source port of any outgoing connection (to Redis,
// to the API), and then the process cannot bind it.
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		port := 20000 + mrand.IntN(12000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free port in 20000-31999 on 127.0.0.1")
	return 0
}

// env is one sandbox world and the config of a node relaying into it.
type env struct {
	t       *testing.T
	world   *sandbox.World
	dataDir string
	smtp    string // submission address
	http    string // API address
	config  string // config file path
}

// newEnv starts a world with domains (domain → sink address) and writes a
// node config; extra is appended to the config (TOML); world, if given,
// adds to the world's config (a CA, say).
func newEnv(t *testing.T, domains map[string]string, extra string, world ...func(*sandbox.WorldConfig)) *env {
	t.Helper()
	wc := sandbox.WorldConfig{Domains: domains}
	for _, f := range world {
		f(&wc)
	}
	w, err := sandbox.StartWorld(wc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	e := &env{
		t: t, world: w, dataDir: t.TempDir(),
		smtp: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		http: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	}
	var pool strings.Builder
	for _, ip := range w.PoolIPs {
		fmt.Fprintf(&pool, "[[pool.ip]]\naddress = %q\nehlo = %q\n\n", ip.Address, ip.EHLO)
	}
	cfg := fmt.Sprintf(`
[server]
hostname = "relay.sendpool.test"
data_dir = %q
[submission]
listen = [%q]
[http]
listen = %q
admin_token = "e2e-token"
[dns]
servers = [%q]
[delivery]
port = %d
allowed_networks = ["127.0.0.0/8"]
connect_timeout = "2s"
%s
%s`, e.dataDir, e.smtp, e.http, w.DNS.Addr(), w.Port, extra, pool.String())
	e.config = filepath.Join(t.TempDir(), "sendpool.toml")
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) api() *apiclient.Client {
	return apiclient.New("http://"+e.http, "e2e-token")
}

// proc is a running sendpool serve.
type proc struct {
	cmd *exec.Cmd
	out *syncBuffer
}

// serve starts the binary and waits until its API answers.
func (e *env) serve() *proc {
	t := e.t
	t.Helper()
	p := &proc{cmd: exec.Command(binary, "serve", "-config", e.config), out: &syncBuffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("sendpool output:\n%s", p.out.String())
		}
	})
	// It starts in well under a second; the deadline is for a CI machine
	// loaded by the whole suite at once.
	deadline := time.Now().Add(startWithin)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := e.api().Health(ctx)
		cancel()
		if err == nil {
			return p
		}
		if p.cmd.ProcessState != nil {
			t.Fatalf("sendpool exited before it started: %v\n%s", err, p.out.String())
		}
		if time.Now().After(deadline) {
			p.dumpStacks()
			t.Fatalf("sendpool did not start within %v: %v; its goroutines, where it waited:\n%s", startWithin, err, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startWithin bounds how long serve may take to answer /healthz.
const startWithin = time.Minute

// dumpStacks makes the process print every goroutine's stack and exit
// (SIGQUIT, the Go runtime's default), so that a start that hung says
// where.
func (p *proc) dumpStacks() {
	p.cmd.Process.Signal(syscall.SIGQUIT)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// kill stops the process at once, as a crash would (SIGKILL).
func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

// addAccount creates an account through the API.
func (e *env) addAccount(name, password string, domains ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.api().CreateAccount(ctx, api.AccountRequest{Name: name, Password: password, Domains: domains}); err != nil {
		e.t.Fatal(err)
	}
}

// message is a small RFC 5322 message with a unique Message-ID.
func message(from, to, id string) []byte {
	return []byte("From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: test " + id +
		"\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: <" + id + "@e2e.test>\r\n\r\nHello " + id + ".\r\n")
}

// submit sends one message with AUTH PLAIN and returns the server's reply to
// the end of DATA.
func submit(addr, user, pass, from string, to []string, body []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.e2e.test"); err != nil {
		return err
	}
	if user != "" {
		if err := c.Auth(smtp.PlainAuth("", user, pass, "127.0.0.1")); err != nil {
			return err
		}
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// messageIDs returns the Message-ID of every message a sink received.
func messageIDs(s *sandbox.Sink) []string {
	var ids []string
	for _, m := range s.Messages() {
		for _, line := range strings.Split(string(m.Data), "\r\n") {
			if v, ok := strings.CutPrefix(line, "Message-ID: <"); ok {
				ids = append(ids, strings.TrimSuffix(v, "@e2e.test>"))
				break
			}
		}
	}
	return ids
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, timeout, what, cond)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func accountReq(name, password string, domains, networks []string) api.AccountRequest {
	return api.AccountRequest{Name: name, Password: password, Domains: domains, Networks: networks}
}
