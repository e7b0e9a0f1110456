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

// postfixInstance is a private Postfix (`postfix -c DIR start`): its own
// config, queue and log under one directory, smtpd on a loopback port, no
// local delivery.
type postfixInstance struct {
	dir      string
	conf     string
	smtpAddr string
	maillog  string
	version  string
}

// postfixOptions say what a private instance does. The relay (the
// baseline beside sendpool) sends each sink domain to its sink; the
// hosting server's Postfix (the postfix-smarthost workload) sends
// everything to a relayhost.
type postfixOptions struct {
	Name    string // myhostname is Name.bench.test
	World   *sandbox.World
	Domains []string // relayed to their sinks by the transport map
	// Relayhost, "host:port", takes all mail instead, over STARTTLS
	// (encrypt: refused without it) and AUTH PLAIN as RelayUser.
	Relayhost                string
	RelayUser, RelayPassword string
	// Cert makes smtpd offer STARTTLS with it.
	Cert *relayCert
	// SASLUser makes smtpd relay only for clients that log in as that
	// user (Cyrus SASL, PLAIN, a sasldb of its own), not by mynetworks.
	SASLUser, SASLPassword string
	// Milter, "inet:127.0.0.1:PORT", sees all mail (OpenDKIM).
	Milter string
}

// postfixMainCF is the part of main.cf every instance shares; mainCF adds
// where its mail goes (to each sink domain's sink by the transport map,
// with no DNS: the names are sandbox names; or to a relayhost), how its
// smtpd trusts clients, and its milter.
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
myhostname = {{name}}.bench.test
mydomain = bench.test
myorigin = bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
# No local delivery: mail for no sink domain (and no relayhost) is refused.
local_transport = error:local delivery is disabled
local_recipient_maps =
alias_maps =
alias_database =
smtp_dns_support_level = disabled
# Room for every submission session and for each destination's
# deliveries: Postfix's default of 20 at a time per sink domain, or to the
# relayhost.
default_process_limit = 200
smtp_destination_concurrency_limit = 20
# Sub-millisecond delays= in the log: the postfix-smarthost workload reads
# the relay's accept latency there.
delay_logging_resolution_limit = 4
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
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
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

// mainCF is the whole main.cf for o, the instance living in dir.
func (o postfixOptions) mainCF(dir string) string {
	var b strings.Builder
	b.WriteString(strings.NewReplacer("{{dir}}", dir, "{{name}}", o.Name).Replace(postfixMainCF))
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	if o.Relayhost != "" {
		host, port, _ := net.SplitHostPort(o.Relayhost)
		line("# A hosting server: everything goes to the smarthost, over TLS, logged in.")
		line("relayhost = [%s]:%s", host, port)
		line("smtp_tls_security_level = encrypt")
		line("smtp_tls_session_cache_database = btree:%s/data/smtp_scache", dir)
		line("smtp_sasl_auth_enable = yes")
		line("smtp_sasl_password_maps = texthash:%s/conf/sasl_passwd", dir)
		line("smtp_sasl_tls_security_options = noanonymous")
		line("smtp_sasl_mechanism_filter = plain")
	} else {
		line("transport_maps = texthash:%s/conf/transport", dir)
		line("smtp_tls_security_level = none")
	}
	if o.Cert != nil {
		line("smtpd_tls_security_level = may")
		line("smtpd_tls_cert_file = %s", o.Cert.CertFile)
		line("smtpd_tls_key_file = %s", o.Cert.KeyFile)
		line("smtpd_tls_session_cache_database = btree:%s/data/smtpd_scache", dir)
	} else {
		line("smtpd_tls_security_level = none")
	}
	if o.SASLUser != "" {
		line("# Relay for the account that logs in, as sendpool does; not by address.")
		line("smtpd_sasl_auth_enable = yes")
		line("smtpd_sasl_type = cyrus")
		line("smtpd_sasl_path = smtpd")
		line("cyrus_sasl_config_path = %s/conf/sasl", dir)
		line("smtpd_sasl_local_domain = %s", benchDomain)
		line("smtpd_sasl_security_options = noanonymous")
		line("smtpd_relay_restrictions = permit_sasl_authenticated, reject")
	} else {
		line("# Relay by client address: the load generator, or the hosting server's apps.")
		line("smtpd_relay_restrictions = permit_mynetworks, reject")
	}
	if o.Milter != "" {
		line("smtpd_milters = %s", o.Milter)
		line("non_smtpd_milters = $smtpd_milters")
		line("milter_default_action = tempfail")
	}
	return b.String()
}

// writePostfixConfig writes main.cf, master.cf and the maps into dir/conf.
func writePostfixConfig(dir, smtpAddr string, o postfixOptions) error {
	for _, d := range []string{"conf", "conf/sasl", "queue", "data", "log", "sasldb"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	// The postfix user must reach its queue through dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	files := map[string]string{
		"main.cf":   o.mainCF(dir),
		"master.cf": strings.ReplaceAll(postfixMasterCF, "{{smtp}}", smtpAddr),
	}
	if o.Relayhost != "" {
		host, port, _ := net.SplitHostPort(o.Relayhost)
		files["sasl_passwd"] = fmt.Sprintf("[%s]:%s %s:%s\n", host, port, o.RelayUser, o.RelayPassword)
	} else {
		var transport strings.Builder
		for _, d := range o.Domains {
			s := o.World.Sink(d)
			if s == nil {
				return fmt.Errorf("no sink for %s", d)
			}
			host, port, _ := net.SplitHostPort(s.Addr())
			fmt.Fprintf(&transport, "%s smtp:[%s]:%s\n", d, host, port)
		}
		files["transport"] = transport.String()
	}
	if o.SASLUser != "" {
		files["sasl/smtpd.conf"] = "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN\nsasldb_path: " +
			filepath.Join(dir, "sasldb", "sasldb2") + "\n"
	}
	for name, text := range files {
		mode := os.FileMode(0o644)
		if name == "sasl_passwd" {
			mode = 0o600 // read by smtp as root, before it drops privileges
		}
		if err := os.WriteFile(filepath.Join(dir, "conf", name), []byte(text), mode); err != nil {
			return err
		}
	}
	return nil
}

// writeSASLDB stores the one account of an instance that requires AUTH in
// its sasldb (saslpasswd2, from sasl2-bin), readable by smtpd: outside
// conf, where Postfix wants every file owned by root.
func writeSASLDB(ctx context.Context, dir string, o postfixOptions, uid int) error {
	db := filepath.Join(dir, "sasldb", "sasldb2")
	cmd := exec.CommandContext(ctx, "saslpasswd2", "-p", "-c", "-f", db, "-u", benchDomain, o.SASLUser)
	cmd.Stdin = strings.NewReader(o.SASLPassword)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("saslpasswd2 (./scripts/bench installs sasl2-bin): %v %s", err, out)
	}
	if err := os.Chown(db, uid, -1); err != nil {
		return err
	}
	return os.Chmod(db, 0o600)
}

// startPostfix configures and starts a private instance under dir and
// returns once its smtpd greets.
func startPostfix(ctx context.Context, dir string, o postfixOptions) (*postfixInstance, error) {
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
	if err := writePostfixConfig(dir, smtpAddr, o); err != nil {
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
	if o.SASLUser != "" {
		if err := writeSASLDB(ctx, dir, o, uid); err != nil {
			return nil, err
		}
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
