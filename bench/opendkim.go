package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sendpool/internal/sandbox"
)

// openDKIMSelector names the run's key in DNS.
const openDKIMSelector = "bench"

// openDKIM is a private OpenDKIM milter, the signer Debian's Postfix users
// run (package opendkim): its own config, key, pid file and log under one
// directory, listening on a loopback port, signing bench.test's mail
// with a fresh RSA-2048 key, relaxed/relaxed, as sendpool signs. It runs
// in the foreground as the bench's child, so that its pid is known and
// its CPU read from /proc; stop ends it.
type openDKIM struct {
	cmd    *exec.Cmd
	addr   string // 127.0.0.1:PORT
	dir    string
	exited chan struct{}
}

// openDKIMConf is its config: Debian's /etc/opendkim.conf, signing only,
// with the canonicalisation sendpool uses and no syslog (nothing reads it
// here; the bench's sinks check the signatures are there).
const openDKIMConf = `# written by the sendpool bench
Mode			s
Domain			` + benchDomain + `
Selector		` + openDKIMSelector + `
KeyFile			{{dir}}/` + openDKIMSelector + `.private
Canonicalization	relaxed/relaxed
SignatureAlgorithm	rsa-sha256
OversignHeaders		From
InternalHosts		127.0.0.0/8
Socket			inet:{{port}}@127.0.0.1
PidFile			{{dir}}/opendkim.pid
UserID			opendkim
UMask			007
Syslog			no
# The run directory is under /tmp, which others may write: OpenDKIM would
# refuse the key there.
RequireSafeKeys		false
`

// startOpenDKIM makes the key, publishes it in world's DNS, writes the
// config and starts the milter; it returns once the milter listens.
func startOpenDKIM(ctx context.Context, dir string, world *sandbox.World) (*openDKIM, error) {
	bin, err := exec.LookPath("opendkim")
	if err != nil {
		bin = "/usr/sbin/opendkim"
		if _, err := os.Stat(bin); err != nil {
			return nil, errors.New("opendkim is not installed (./scripts/bench installs opendkim and opendkim-tools)")
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	genkey := exec.CommandContext(ctx, "opendkim-genkey", "-b", "2048", "-d", benchDomain, "-s", openDKIMSelector, "-D", dir)
	if out, err := genkey.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("opendkim-genkey (package opendkim-tools): %v %s", err, out)
	}
	txt, err := os.ReadFile(filepath.Join(dir, openDKIMSelector+".txt"))
	if err != nil {
		return nil, err
	}
	world.DNS.SetTXT(openDKIMSelector+"._domainkey."+benchDomain, zoneTXT(string(txt)))
	// opendkim drops to its user: its key is its own, and it writes its
	// pid file in dir.
	u, err := user.Lookup("opendkim")
	if err != nil {
		return nil, fmt.Errorf("opendkim user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, p := range []string{dir, filepath.Join(dir, openDKIMSelector+".private")} {
		if err := os.Chown(p, uid, gid); err != nil {
			return nil, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(dir, "opendkim.conf")
	text := strings.NewReplacer("{{dir}}", dir, "{{port}}", port).Replace(openDKIMConf)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "opendkim.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, "-f", "-x", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	o := &openDKIM{cmd: cmd, addr: addr, dir: dir, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(o.exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return o, nil
		}
		select {
		case <-o.exited:
			return nil, fmt.Errorf("opendkim exited at start: %s", o.logTail())
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			o.stop()
			return nil, fmt.Errorf("opendkim did not listen on %s: %v: %s", addr, err, o.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// milter is the address Postfix's smtpd_milters names.
func (o *openDKIM) milter() string { return "inet:" + o.addr }

func (o *openDKIM) pid() int { return o.cmd.Process.Pid }

// cpu is the milter's CPU seconds so far (all its threads).
func (o *openDKIM) cpu() (float64, error) {
	self, children, err := cpuTimes(o.pid())
	return self + children, err
}

// pss is its proportional set size in kB, 0 when unreadable.
func (o *openDKIM) pss() int64 {
	kb, _ := kbField(fmt.Sprintf("/proc/%d/smaps_rollup", o.pid()), "Pss")
	return kb
}

// stop ends the milter (SIGTERM, then SIGKILL after 10 s).
func (o *openDKIM) stop() {
	select {
	case <-o.exited:
		return
	default:
	}
	o.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-o.exited:
	case <-time.After(10 * time.Second):
		o.cmd.Process.Kill()
		<-o.exited
	}
}

func (o *openDKIM) logTail() string {
	b, _ := os.ReadFile(filepath.Join(o.dir, "opendkim.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

var zoneString = regexp.MustCompile(`"([^"]*)"`)

// zoneTXT is the value of the TXT record opendkim-genkey writes in zone
// file syntax: its quoted strings, joined.
func zoneTXT(zone string) string {
	var b strings.Builder
	for _, m := range zoneString.FindAllStringSubmatch(zone, -1) {
		b.WriteString(m[1])
	}
	return b.String()
}
