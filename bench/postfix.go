package main

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"sendpool/internal/sandbox"
)

// postfixVersion returns the installed Postfix's version, or an error
// when it is not installed.
func postfixVersion(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "/usr/sbin/postconf", "-d", "-h", "mail_version").Output()
	if err != nil {
		return "", fmt.Errorf("postfix is not installed (./scripts/bench installs it): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// postfixInstance is a private Postfix (sandbox.StartPostfix) with smtpd
// on a loopback port.
type postfixInstance struct {
	*sandbox.Postfix
	smtpAddr string
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

// postfixMain is what every bench instance adds to the sandbox's main.cf:
// room for every submission session and for each destination's
// deliveries (Postfix's default of 20 at a time per sink domain, or to
// the relayhost), and sub-millisecond delays= in the log (the
// postfix-smarthost workload reads the relay's accept latency there).
var postfixMain = map[string]string{
	"mydomain":                           "bench.test",
	"myorigin":                           "bench.test",
	"default_process_limit":              "200",
	"smtp_destination_concurrency_limit": "20",
	"delay_logging_resolution_limit":     "4",
}

// config is the sandbox instance for o under dir, smtpd on smtpAddr: its
// mail goes to each sink domain's sink by the transport map, with no DNS
// (the names are sandbox names), or to a relayhost; its smtpd trusts
// clients by address or by login; a milter sees all mail.
func (o postfixOptions) config(dir, smtpAddr string) (sandbox.PostfixConfig, error) {
	cfg := sandbox.PostfixConfig{
		Dir:      dir,
		Main:     maps.Clone(postfixMain),
		Services: []string{smtpAddr + " inet n - n - - smtpd"},
		Files:    map[string]string{},
		Secrets:  map[string]string{},
		Listen:   smtpAddr,
	}
	set := func(kv ...string) {
		for i := 0; i < len(kv); i += 2 {
			cfg.Main[kv[i]] = kv[i+1]
		}
	}
	set("myhostname", o.Name+".bench.test")
	if o.Relayhost != "" {
		// A hosting server: everything goes to the smarthost, over TLS,
		// logged in.
		host, port, _ := net.SplitHostPort(o.Relayhost)
		set("relayhost", fmt.Sprintf("[%s]:%s", host, port),
			"smtp_tls_security_level", "encrypt",
			"smtp_tls_session_cache_database", "btree:$data_directory/smtp_scache",
			"smtp_sasl_auth_enable", "yes",
			"smtp_sasl_password_maps", "texthash:{{conf}}/sasl_passwd",
			"smtp_sasl_tls_security_options", "noanonymous",
			"smtp_sasl_mechanism_filter", "plain")
		cfg.Secrets["sasl_passwd"] = fmt.Sprintf("[%s]:%s %s:%s\n", host, port, o.RelayUser, o.RelayPassword)
	} else {
		var transport strings.Builder
		for _, d := range o.Domains {
			s := o.World.Sink(d)
			if s == nil {
				return cfg, fmt.Errorf("no sink for %s", d)
			}
			host, port, _ := net.SplitHostPort(s.Addr())
			fmt.Fprintf(&transport, "%s smtp:[%s]:%s\n", d, host, port)
		}
		set("transport_maps", "texthash:{{conf}}/transport")
		cfg.Files["transport"] = transport.String()
	}
	if o.Cert != nil {
		set("smtpd_tls_security_level", "may",
			"smtpd_tls_cert_file", o.Cert.CertFile,
			"smtpd_tls_key_file", o.Cert.KeyFile,
			"smtpd_tls_session_cache_database", "btree:$data_directory/smtpd_scache")
	}
	if o.SASLUser != "" {
		// Relay for the account that logs in, as sendpool does; not by
		// address.
		set("smtpd_sasl_auth_enable", "yes",
			"smtpd_sasl_type", "cyrus",
			"smtpd_sasl_path", "smtpd",
			"cyrus_sasl_config_path", "{{conf}}/sasl",
			"smtpd_sasl_local_domain", benchDomain,
			"smtpd_sasl_security_options", "noanonymous",
			"smtpd_relay_restrictions", "permit_sasl_authenticated, reject")
		cfg.Files["sasl/smtpd.conf"] = "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN\nsasldb_path: " +
			sasldbPath(dir) + "\n"
	} else {
		// Relay by client address: the load generator, or the hosting
		// server's apps.
		set("smtpd_relay_restrictions", "permit_mynetworks, reject")
	}
	if o.Milter != "" {
		set("smtpd_milters", o.Milter,
			"non_smtpd_milters", "$smtpd_milters",
			"milter_default_action", "tempfail")
	}
	return cfg, nil
}

// sasldbPath is where an instance that requires AUTH keeps its account:
// outside conf, where Postfix wants every file owned by root.
func sasldbPath(dir string) string { return filepath.Join(dir, "sasldb", "sasldb2") }

// writeSASLDB stores the one account of an instance that requires AUTH in
// its sasldb (saslpasswd2, from sasl2-bin), readable by smtpd only.
func writeSASLDB(ctx context.Context, dir string, o postfixOptions) error {
	db := sasldbPath(dir)
	if err := os.MkdirAll(filepath.Dir(db), 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "saslpasswd2", "-p", "-c", "-f", db, "-u", benchDomain, o.SASLUser)
	cmd.Stdin = strings.NewReader(o.SASLPassword)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("saslpasswd2 (./scripts/bench installs sasl2-bin): %v %s", err, out)
	}
	uid, err := sandbox.PostfixUID()
	if err != nil {
		return err
	}
	if err := os.Chown(db, uid, -1); err != nil {
		return err
	}
	return os.Chmod(db, 0o600)
}

// startPostfix configures and starts a private instance under dir and
// returns once its smtpd greets.
func startPostfix(ctx context.Context, dir string, o postfixOptions) (*postfixInstance, error) {
	smtpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg, err := o.config(dir, smtpAddr)
	if err != nil {
		return nil, fmt.Errorf("postfix config: %w", err)
	}
	if o.SASLUser != "" {
		if err := writeSASLDB(ctx, dir, o); err != nil {
			return nil, err
		}
	}
	pf, err := sandbox.StartPostfix(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &postfixInstance{Postfix: pf, smtpAddr: smtpAddr}, nil
}
