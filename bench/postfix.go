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
	"strconv"
	"strings"
	"time"

	"sendpool/internal/sandbox"
)

// Where Debian's postfix package puts its programs.
const (
	postfixCommandDir = "/usr/sbin"
	postfixDaemonDir  = "/usr/lib/postfix/sbin"
)

// postfixVersion returns the installed Postfix's version, or an error
// when it is not installed.
func postfixVersion(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(postfixCommandDir, "postconf"), "-d", "-h", "mail_version").Output()
	if err != nil {
		return "", fmt.Errorf("postfix is not installed (./scripts/bench installs it): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// postfixInstance is a private Postfix (`postfix -c DIR start`) relaying
// to the world's sinks: its own config, queue and log under one
// directory, smtpd on a loopback port, no local delivery.
type postfixInstance struct {
	dir      string
	conf     string
	smtpAddr string
	maillog  string
	version  string
}

// postfixMainCF is the instance's main.cf. Relaying is by client address
// (mynetworks): Postfix gets no AUTH, which would need Cyrus SASL or
// Dovecot, a separate daemon. Each sink domain goes to its sink by the
// transport map, with no DNS (the names are sandbox names).
const postfixMainCF = `# written by the sendpool bench
compatibility_level = 3.6
queue_directory = {{dir}}/queue
data_directory = {{dir}}/data
command_directory = ` + postfixCommandDir + `
daemon_directory = ` + postfixDaemonDir + `
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.test
mydomain = bench.test
myorigin = bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
# No local delivery: anything not in the transport map is refused.
local_transport = error:local delivery is disabled
local_recipient_maps =
alias_maps =
alias_database =
transport_maps = texthash:{{dir}}/conf/transport
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
# Room for every submission session and for each domain's deliveries
# (default_destination_concurrency_limit = 20 per sink domain).
default_process_limit = 200
smtp_destination_concurrency_limit = 20
maillog_file = {{dir}}/log/maillog
maillog_file_prefixes = {{dir}}/log
biff = no
`

// postfixMasterCF is the instance's master.cf: Debian's services, every
// one with chroot off (the queue is not a chroot jail), smtpd on a
// loopback port.
const postfixMasterCF = `# written by the sendpool bench
{{smtp}} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`

// writePostfixConfig writes main.cf, master.cf and the transport map into
// dir/conf, sending each of domains to its sink in world.
func writePostfixConfig(dir, smtpAddr string, world *sandbox.World, domains []string) error {
	for _, d := range []string{"conf", "queue", "data", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	// The postfix user must reach its queue through dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	var transport strings.Builder
	for _, d := range domains {
		s := world.Sink(d)
		if s == nil {
			return fmt.Errorf("no sink for %s", d)
		}
		host, port, _ := net.SplitHostPort(s.Addr())
		fmt.Fprintf(&transport, "%s smtp:[%s]:%s\n", d, host, port)
	}
	files := map[string]string{
		"main.cf":   strings.ReplaceAll(postfixMainCF, "{{dir}}", dir),
		"master.cf": strings.ReplaceAll(postfixMasterCF, "{{smtp}}", smtpAddr),
		"transport": transport.String(),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, "conf", name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// startPostfix configures and starts a private instance under dir and
// returns once its smtpd greets.
func startPostfix(ctx context.Context, dir string, world *sandbox.World, domains []string) (*postfixInstance, error) {
	version, err := postfixVersion(ctx)
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("postfix: a private instance must be started as root")
	}
	smtpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if err := writePostfixConfig(dir, smtpAddr, world, domains); err != nil {
		return nil, fmt.Errorf("postfix config: %w", err)
	}
	// master takes its lock in data_directory as the postfix user.
	u, err := user.Lookup("postfix")
	if err != nil {
		return nil, fmt.Errorf("postfix user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	if err := os.Chown(filepath.Join(dir, "data"), uid, -1); err != nil {
		return nil, err
	}
	pf := &postfixInstance{dir: dir, conf: filepath.Join(dir, "conf"), smtpAddr: smtpAddr,
		maillog: filepath.Join(dir, "log", "maillog"), version: version}
	// Postfix says nothing on the terminal when it fails: its maillog
	// file has the reason.
	out, err := exec.CommandContext(ctx, filepath.Join(postfixCommandDir, "postfix"), "-c", pf.conf, "start").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("postfix start: %v %s\nmaillog:\n%s", err, out, pf.logTail())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := greets(smtpAddr); err == nil {
			return pf, nil
		} else if time.Now().After(deadline) || ctx.Err() != nil {
			pf.stop()
			return nil, fmt.Errorf("postfix smtpd on %s: %v\nmaillog:\n%s", smtpAddr, err, pf.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// greets connects to addr and reads a 220 greeting.
func greets(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	cl := &loadClient{conn: c}
	cl.r, cl.w = newReaderWriter(c)
	code, text, err := cl.reply()
	if err != nil {
		return err
	}
	if code != codeReady {
		return fmt.Errorf("greeting %d %s", code, text)
	}
	cl.close()
	return nil
}

// masterPID is the instance's master process, from its pid file.
func (pf *postfixInstance) masterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(pf.dir, "queue", "pid", "master.pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// stop stops the instance (postfix stop waits for its daemons).
func (pf *postfixInstance) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(postfixCommandDir, "postfix"), "-c", pf.conf, "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("postfix stop: %v %s", err, out)
	}
	return nil
}

// logTail is the end of the instance's maillog.
func (pf *postfixInstance) logTail() string {
	b, _ := os.ReadFile(pf.maillog)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
