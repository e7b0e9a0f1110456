package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/config"
	"sendpool/internal/sandbox"
)

// Sandbox demo account (SPEC §1: the swaks line must work as printed).
const (
	demoAccount  = "demo"
	demoPassword = "demo-password"
	demoDomain   = "example.test"
	// The sink of yahoo.test refuses this IP as blacklisted, so the pool's
	// behaviour can be watched.
	demoBlockedIP = "127.0.0.5"
)

// runSandbox starts the loopback world and a node relaying into it.
func runSandbox(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	smtpAddr := fs.String("smtp", "127.0.0.1:2525", "submission address")
	httpAddr := fs.String("http", "127.0.0.1:8025", "API and control panel address")
	dataDir := fs.String("data", "", "data directory (default: a new temporary one)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The world's own CA signs the sinks' certificates and the MTA-STS
	// policy host's; the node trusts it (delivery.tls_ca_file).
	ca, err := sandbox.NewCA("sendpool sandbox CA")
	if err != nil {
		fmt.Fprintf(stderr, "sandbox: %v\n", err)
		return 1
	}
	world, err := sandbox.StartWorld(sandbox.WorldConfig{Logger: logger, CA: ca})
	if err != nil {
		fmt.Fprintf(stderr, "sandbox: %v\n", err)
		return 1
	}
	defer world.Close()
	if err := publishSandboxTLS(world); err != nil {
		fmt.Fprintf(stderr, "sandbox: %v\n", err)
		return 1
	}
	world.Sink("yahoo.test").SetRules(sandbox.Rule{
		SourceIP: demoBlockedIP, Stage: sandbox.StageRcpt,
		Reply: "554 5.7.1 Service unavailable; Client host [" + demoBlockedIP + "] blocked using zen.spamhaus.org",
	})

	if *dataDir == "" {
		if *dataDir, err = os.MkdirTemp("", "sendpool-sandbox-"); err != nil {
			fmt.Fprintf(stderr, "sandbox: %v\n", err)
			return 1
		}
		defer os.RemoveAll(*dataDir)
	}
	cfg := sandboxConfig(world, *dataDir, *smtpAddr, *httpAddr)
	if err := ca.WriteFile(cfg.Delivery.TLSCAFile); err != nil {
		fmt.Fprintf(stderr, "sandbox: %v\n", err)
		return 1
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		fmt.Fprintf(stderr, "sandbox: %v\n", errs)
		return 1
	}
	n, err := startNode(ctx, cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "sandbox: %v\n", err)
		return 1
	}
	defer n.close()
	if err := addDemoAccount(ctx, n.store); err != nil {
		fmt.Fprintf(stderr, "sandbox: %v\n", err)
		return 1
	}
	if err := addDemoDomain(ctx, n, world); err != nil { // sandbox_domain.go: DKIM keys, records published
		fmt.Fprintf(stderr, "sandbox: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, `sendpool sandbox is running; nothing leaves 127.0.0.0/8.

  receivers:  gmail.test, outlook.test, yahoo.test (sinks on 127.0.0.11-13, port %d), example.test (bounces)
              all offer STARTTLS with certificates from the sandbox CA (%s);
              gmail.test has an MTA-STS policy in enforce mode (policy host %s) and asks for TLS reports
  pool:       127.0.0.2-5; yahoo.test refuses %s as blacklisted (Spamhaus)
  account:    %s / %s, domain %s
  DNS:        %s

Send a message:
  swaks --server %s --auth-user %s --auth-password %s --from you@%s --to someone@gmail.test

Control panel and API: http://%s/
  admin token: %s   (the panel's password, account left empty; also in %s)
  sendpool queue ls -api http://%s -token %s
Ctrl-C stops everything.
`, world.Port, cfg.Delivery.TLSCAFile, world.STS.Addr(), demoBlockedIP, demoAccount, demoPassword, demoDomain, world.DNS.Addr(),
		*smtpAddr, demoAccount, demoPassword, demoDomain, n.httpAddr, n.token, filepath.Join(*dataDir, tokenFile),
		n.httpAddr, n.token)
	<-ctx.Done()
	return 0
}

// sandboxConfig is a node's config pointed at the loopback world.
func sandboxConfig(w *sandbox.World, dataDir, smtpAddr, httpAddr string) *config.Config {
	cfg := config.Default()
	cfg.Server.Hostname = "relay.sendpool.test"
	cfg.Server.DataDir = dataDir
	cfg.Submission.Listen = []string{smtpAddr}
	cfg.HTTP.Listen = httpAddr
	cfg.DNS.Servers = []string{w.DNS.Addr()}
	cfg.Delivery.Port = w.Port
	cfg.Delivery.AllowedNetworks = []string{"127.0.0.0/8"}
	cfg.Delivery.Retry = []config.Duration{config.Duration(10 * time.Second), config.Duration(30 * time.Second), config.Duration(time.Minute)}
	cfg.Delivery.ConnectTimeout = config.Duration(5 * time.Second)
	cfg.Delivery.TLSCAFile = filepath.Join(dataDir, "sandbox-ca.pem")
	if w.STS != nil {
		cfg.Delivery.MTASTSPort = w.STS.Port()
	}
	cfg.Pool.IP = nil
	for _, ip := range w.PoolIPs {
		cfg.Pool.IP = append(cfg.Pool.IP, config.PoolIP{Address: ip.Address, EHLO: ip.EHLO, Weight: 1})
	}
	return cfg
}

// publishSandboxTLS gives gmail.test an enforced MTA-STS policy naming
// its sink and has it ask for TLS reports (to example.test's sink).
func publishSandboxTLS(w *sandbox.World) error {
	w.PublishTLSRPT("gmail.test", "mailto:tls-reports@"+demoDomain)
	return w.PublishSTS("gmail.test", "version: STSv1\nmode: enforce\nmx: mx.gmail.test\nmax_age: 86400\n")
}

func addDemoAccount(ctx context.Context, st account.Store) error {
	hash, err := account.HashPassword(demoPassword)
	if err != nil {
		return err
	}
	err = st.CreateAccount(ctx, &account.Account{
		Name: demoAccount, PasswordHash: hash, Domains: []string{demoDomain},
		Status: account.StatusActive, Created: time.Now(),
	})
	if errors.Is(err, account.ErrExists) {
		return nil
	}
	return err
}
