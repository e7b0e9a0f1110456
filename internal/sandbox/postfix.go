package sandbox

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Debian's postfix package puts its programs here.
const (
	postfixBin    = "/usr/sbin/postfix"
	postfixDaemon = "/usr/lib/postfix/sbin"
)

// PostfixConfig is a private Postfix instance (`postfix -c DIR start`):
// its own main.cf and master.cf under Dir, its queue and log there too,
// no chroot, no local delivery. It plays an outside MTA for tests and the
// bench: a hosting server relaying to sendpool, or an MX beside ours.
type PostfixConfig struct {
	Dir string // made if missing; the postfix user must reach it
	// Main are main.cf parameters over the instance's base ones.
	Main map[string]string
	// Services are master.cf lines beyond the instance's own daemons, e.g.
	// "127.0.0.1:2600 inet n - n - 1 postscreen".
	Services []string
	// Files are more files for conf/ (maps, a SASL config), by name; a
	// name may have a directory (sasl/smtpd.conf). Secrets are written
	// the same way, readable by root only (smtp's sasl_passwd: read
	// before it drops privileges).
	Files, Secrets map[string]string
	// Listen is an address whose greeting StartPostfix waits for; "": none.
	Listen string
	// Nameserver, when set (an IP serving DNS on port 53, e.g. a sandbox
	// DNSServer on 127.0.0.153:53), is the instance's only resolver: it
	// runs in a mount namespace of its own whose /etc/resolv.conf names
	// it, as Postfix has no resolver setting and the system's is not on
	// loopback (postscreen's DNSBL lookups must stay in the sandbox).
	Nameserver string
}

// Postfix is a running private instance.
type Postfix struct {
	dir, conf string
}

// postfixBase is every instance's main.cf.
var postfixBase = map[string]string{
	"compatibility_level":      "3.6",
	"command_directory":        "/usr/sbin",
	"daemon_directory":         postfixDaemon,
	"meta_directory":           "/etc/postfix",
	"shlib_directory":          "/usr/lib/postfix",
	"mail_owner":               "postfix",
	"setgid_group":             "postdrop",
	"myhostname":               "postfix.sandbox.test",
	"mydomain":                 "sandbox.test",
	"myorigin":                 "sandbox.test",
	"mydestination":            "",
	"inet_interfaces":          "127.0.0.1",
	"inet_protocols":           "ipv4",
	"mynetworks":               "127.0.0.0/8",
	"smtpd_peername_lookup":    "no",
	"local_transport":          "error:local delivery is disabled",
	"local_recipient_maps":     "",
	"alias_maps":               "",
	"alias_database":           "",
	"smtp_dns_support_level":   "disabled",
	"smtp_tls_security_level":  "none",
	"smtpd_tls_security_level": "none",
	"biff":                     "no",
}

// postfixDaemons are the master.cf services every instance runs.
var postfixDaemons = []string{
	"pickup unix n - n 60 1 pickup", "cleanup unix n - n - 0 cleanup", "qmgr unix n - n 300 1 qmgr",
	"rewrite unix - - n - - trivial-rewrite", "bounce unix - - n - 0 bounce", "defer unix - - n - 0 bounce",
	"trace unix - - n - 0 bounce", "verify unix - - n - 1 verify", "flush unix n - n 1000? 0 flush",
	"proxymap unix - - n - - proxymap", "smtp unix - - n - - smtp", "relay unix - - n - - smtp",
	"showq unix n - n - - showq", "error unix - - n - - error", "retry unix - - n - - error",
	"discard unix - - n - - discard", "anvil unix - - n - 1 anvil", "scache unix - - n - 1 scache",
	"postlog unix-dgram n - n - 1 postlogd", "tlsmgr unix - - n 1000? 1 tlsmgr",
	"dnsblog unix - - n - 0 dnsblog", "tlsproxy unix - - n - 0 tlsproxy",
}

// WritePostfixConfig writes the instance's directories, main.cf,
// master.cf and cfg's files under cfg.Dir, and lets the postfix user reach
// them. "{{conf}}" in a main.cf value is the config directory.
func WritePostfixConfig(cfg PostfixConfig) error {
	conf := filepath.Join(cfg.Dir, "conf")
	for _, d := range []string{"conf", "queue", "data", "log"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o755); err != nil {
			return err
		}
	}
	// The postfix user walks down to its queue: the instance's directory
	// and those a test made (0700) under the temporary directory must let
	// it through.
	if err := os.Chmod(cfg.Dir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Clean(os.TempDir())
	for d := filepath.Dir(filepath.Clean(cfg.Dir)); strings.HasPrefix(d, tmp+"/"); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	main := maps.Clone(postfixBase)
	main["queue_directory"] = filepath.Join(cfg.Dir, "queue")
	main["data_directory"] = filepath.Join(cfg.Dir, "data")
	main["maillog_file"] = filepath.Join(cfg.Dir, "log", "maillog")
	main["maillog_file_prefixes"] = filepath.Join(cfg.Dir, "log")
	maps.Copy(main, cfg.Main)
	var mainCF strings.Builder
	mainCF.WriteString("# written by sendpool's sandbox\n")
	for _, k := range slices.Sorted(maps.Keys(main)) {
		fmt.Fprintf(&mainCF, "%s = %s\n", k, strings.ReplaceAll(main[k], "{{conf}}", conf))
	}
	master := "# written by sendpool's sandbox: every service with chroot off (the queue is no jail)\n" +
		strings.Join(append(slices.Clone(cfg.Services), postfixDaemons...), "\n") + "\n"
	write := func(files map[string]string, mode os.FileMode) error {
		for name, text := range files {
			path := filepath.Join(conf, name)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(path, []byte(text), mode); err != nil {
				return err
			}
		}
		return nil
	}
	if err := write(map[string]string{"main.cf": mainCF.String(), "master.cf": master}, 0o644); err != nil {
		return err
	}
	if err := write(cfg.Files, 0o644); err != nil {
		return err
	}
	return write(cfg.Secrets, 0o600)
}

// PostfixUID is the postfix user's uid, which owns an instance's data
// directory (and what else its daemons must write: a sasldb).
func PostfixUID() (int, error) {
	u, err := user.Lookup("postfix")
	if err != nil {
		return 0, fmt.Errorf("postfix user: %w", err)
	}
	return strconv.Atoi(u.Uid)
}

// StartPostfix writes the instance's config and starts it (as root: the
// master runs its daemons as the postfix user). It returns once cfg.Listen
// greets.
func StartPostfix(ctx context.Context, cfg PostfixConfig) (*Postfix, error) {
	if _, err := os.Stat(postfixBin); err != nil {
		return nil, fmt.Errorf("postfix is not installed (apt-get install postfix): %w", err)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("postfix: a private instance must be started as root")
	}
	p := &Postfix{dir: cfg.Dir, conf: filepath.Join(cfg.Dir, "conf")}
	if err := WritePostfixConfig(cfg); err != nil {
		return nil, fmt.Errorf("postfix config: %w", err)
	}
	// master takes its lock in data_directory as the postfix user.
	uid, err := PostfixUID()
	if err != nil {
		return nil, err
	}
	if err := os.Chown(filepath.Join(cfg.Dir, "data"), uid, -1); err != nil {
		return nil, err
	}
	// Postfix says nothing on the terminal when it fails: its maillog has
	// the reason.
	start := exec.CommandContext(ctx, postfixBin, "-c", p.conf, "start")
	if cfg.Nameserver != "" {
		rc := filepath.Join(p.conf, "resolv.conf")
		if err := os.WriteFile(rc, []byte("nameserver "+cfg.Nameserver+"\n"), 0o644); err != nil {
			return nil, err
		}
		start = exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c",
			`mount --bind "$1" /etc/resolv.conf && exec "$2" -c "$3" start`, "sh", rc, postfixBin, p.conf)
	}
	if out, err := start.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("postfix start: %v %s\n%s", err, out, p.Log())
	}
	if cfg.Listen == "" {
		return p, nil
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := greeting(cfg.Listen)
		if err == nil {
			return p, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop()
			return nil, fmt.Errorf("postfix on %s: %v\n%s", cfg.Listen, err, p.Log())
		}
	}
}

// greeting reads a 220 from addr.
func greeting(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(buf[:n]), "220") {
		return fmt.Errorf("greeting %q", buf[:n])
	}
	c.Write([]byte("QUIT\r\n"))
	return nil
}

// MasterPID is the instance's master process, from its pid file.
func (p *Postfix) MasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(p.dir, "queue", "pid", "master.pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// Conf is the instance's config directory (postconf -c, postqueue -c).
func (p *Postfix) Conf() string { return p.conf }

// Stop stops the instance; postfix stop waits for its daemons.
func (p *Postfix) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, postfixBin, "-c", p.conf, "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("postfix stop: %v %s", err, out)
	}
	return nil
}

// LogFile is the instance's maillog.
func (p *Postfix) LogFile() string { return filepath.Join(p.dir, "log", "maillog") }

// Log is the end of the instance's maillog.
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(p.LogFile())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
