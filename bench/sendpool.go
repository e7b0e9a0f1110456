package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/apiclient"
	"sendpool/internal/sandbox"
)

// The bench's account on sendpool and its sending domain.
const (
	benchAccount  = "bench"
	benchPassword = "bench-password"
	benchDomain   = "bench.test"
	benchFrom     = "sender@" + benchDomain
	benchToken    = "bench-token"
)

// buildSendpool builds the real binary into dir.
func buildSendpool(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sendpool")
	// The release build (README): static, no cgo.
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/sendpool")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sendpool: %v\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot is the directory of the sendpool module (go env GOMOD).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the bench from inside the sendpool module")
	}
	return filepath.Dir(mod), nil
}

// sendpoolOptions configure one sendpool process.
type sendpoolOptions struct {
	Bin     string
	Dir     string // data dir and log live under it
	World   *sandbox.World
	Pprof   bool   // http.pprof = true
	Extra   string // TOML appended to the config
	Workers int    // delivery.workers; 0: the default
	NodeID  string // server.node_id; "": the default
	// Cert makes the submission listener offer STARTTLS with it (the
	// postfix-smarthost workload).
	Cert *relayCert
}

// sendpoolProc is a running `sendpool serve`.
type sendpoolProc struct {
	cmd      *exec.Cmd
	smtpAddr string
	httpAddr string
	logPath  string
	started  time.Time
	exited   chan struct{}
}

// startSendpool writes a config relaying into the world and starts the
// binary; it returns once the API answers.
func startSendpool(ctx context.Context, o sendpoolOptions) (*sendpoolProc, error) {
	smtpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[server]\nhostname = \"relay.bench.test\"\ndata_dir = %q\n", filepath.Join(o.Dir, "data"))
	if o.NodeID != "" {
		fmt.Fprintf(&cfg, "node_id = %q\n", o.NodeID)
	}
	cfg.WriteString("\n")
	fmt.Fprintf(&cfg, "[submission]\nlisten = [%q]\n", smtpAddr)
	if o.Cert != nil {
		fmt.Fprintf(&cfg, "tls_cert = %q\ntls_key = %q\n", o.Cert.CertFile, o.Cert.KeyFile)
	}
	cfg.WriteString("\n")
	fmt.Fprintf(&cfg, "[http]\nlisten = %q\nadmin_token = %q\n", httpAddr, benchToken)
	if o.Pprof {
		cfg.WriteString("pprof = true\n")
	}
	fmt.Fprintf(&cfg, "\n[dns]\nservers = [%q]\n\n", o.World.DNS.Addr())
	fmt.Fprintf(&cfg, "[delivery]\nport = %d\nallowed_networks = [\"127.0.0.0/8\"]\nconnect_timeout = \"5s\"\n", o.World.Port)
	if o.Workers > 0 {
		fmt.Fprintf(&cfg, "workers = %d\n", o.Workers)
	}
	cfg.WriteString("\n")
	for _, ip := range o.World.PoolIPs {
		fmt.Fprintf(&cfg, "[[pool.ip]]\naddress = %q\nehlo = %q\n\n", ip.Address, ip.EHLO)
	}
	// One account sending tens of thousands of messages at once, from
	// nothing, is what the volume rule holds as compromised: off here.
	cfg.WriteString("[protect]\nvolume_min = 0\n\n")
	cfg.WriteString(o.Extra)
	path := filepath.Join(o.Dir, "sendpool.toml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(o.Dir, "sendpool.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(o.Bin, "serve", "-config", path)
	cmd.Stdout, cmd.Stderr = logf, logf
	p := &sendpoolProc{cmd: cmd, smtpAddr: smtpAddr, httpAddr: httpAddr, logPath: logPath, exited: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { cmd.Wait(); close(p.exited) }()
	client := p.api()
	deadline := time.Now().Add(60 * time.Second)
	for {
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		err := client.Health(hctx)
		cancel()
		if err == nil {
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("sendpool exited at start: %s", p.logTail())
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, fmt.Errorf("sendpool did not answer: %v: %s", err, p.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *sendpoolProc) api() *apiclient.Client {
	return apiclient.New("http://"+p.httpAddr, benchToken)
}

func (p *sendpoolProc) pid() int { return p.cmd.Process.Pid }

// logTail is the end of the process's log, for error messages.
func (p *sendpoolProc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// stop ends the process (SIGTERM, then SIGKILL after 15 s).
func (p *sendpoolProc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// setupAccount makes the bench's account (AUTH PLAIN, its sending domain).
func (p *sendpoolProc) setupAccount(ctx context.Context) error {
	_, err := p.api().CreateAccount(ctx, api.AccountRequest{
		Name: benchAccount, Password: benchPassword, Domains: []string{benchDomain},
	})
	if err != nil {
		return fmt.Errorf("create account: %w", err)
	}
	return nil
}

// dkimRecord is one DNS record POST /api/v1/domains returns (SPEC §5).
type dkimRecord struct {
	Type  string `json:"type"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// enableDKIM adds the bench domain through POST /api/v1/domains, which
// creates its DKIM keys (issue 5), and publishes the records it returns in
// the world's DNS. It reports false, with the reason, when this build has
// no such route: the bench then runs without signing and says so.
func (p *sendpoolProc) enableDKIM(ctx context.Context, world *sandbox.World) (bool, string, error) {
	body, _ := json.Marshal(map[string]string{"domain": benchDomain, "account": benchAccount})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.httpAddr+"/api/v1/domains", bytes.NewReader(body))
	if err != nil {
		return false, "", err
	}
	req.Header.Set("Authorization", "Bearer "+benchToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusNotImplemented:
		return false, fmt.Sprintf("POST /api/v1/domains answered %d: this build has no DKIM signing", resp.StatusCode), nil
	case resp.StatusCode/100 != 2:
		return false, "", fmt.Errorf("POST /api/v1/domains: %d %s", resp.StatusCode, bytes.TrimSpace(text))
	}
	var out struct {
		Records []dkimRecord `json:"records"`
	}
	if err := json.Unmarshal(text, &out); err != nil {
		return false, "", fmt.Errorf("POST /api/v1/domains: %w", err)
	}
	for _, r := range out.Records {
		if strings.EqualFold(r.Type, "TXT") {
			world.DNS.SetTXT(strings.TrimSuffix(r.Name, "."), r.Value)
		}
	}
	return true, "", nil
}

// freeAddr is a loopback address with a port free at the time of asking,
// for the binary to listen on. The port is drawn below Linux's ephemeral
// range (32768 and up), from which any outgoing connection may take it
// meanwhile as its source port.
func freeAddr() (string, error) {
	for range 100 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+mrand.IntN(12000)))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		return addr, nil
	}
	return "", errors.New("no free port in 20000-31999 on 127.0.0.1")
}
