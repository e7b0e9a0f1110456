package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"sendpool/internal/buildinfo"
	"sendpool/internal/config"
	"sendpool/internal/connlimit"
	"sendpool/internal/sdnotify"
)

// runServe runs a node until SIGINT or SIGTERM.
func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default: built-in defaults)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := config.Default()
	if *path != "" {
		var err error
		if cfg, err = config.Load(*path); err != nil {
			fmt.Fprintf(stderr, "sendpool: %s:\n%v\n", *path, err)
			return 1
		}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	bi := buildinfo.Read()
	logger.Info("starting", "version", bi.Version, "commit", bi.CommitLabel(), "go", bi.GoVersion)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := startNode(ctx, cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "sendpool: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "sendpool: submission on %v, API on http://%s\n", cfg.Submission.Listen, n.httpAddr)
	// Under systemd (Type=notify) the unit is active only now, with every
	// listener bound: what is ordered after it finds the ports open.
	notify := os.Getenv("NOTIFY_SOCKET")
	if err := sdnotify.Send(notify, sdnotify.Ready); err != nil {
		logger.Warn("telling systemd we are ready", "socket", notify, "err", err)
	}
	<-ctx.Done()
	logger.Info("shutting down")
	if err := sdnotify.Send(notify, sdnotify.Stopping); err != nil {
		logger.Warn("telling systemd we are stopping", "socket", notify, "err", err)
	}
	if err := n.close(); err != nil {
		logger.Error("shutdown", "err", err)
		return 1
	}
	return 0
}

// listenHTTP serves h on addr in the background, within b: without
// timeouts an idle keep-alive or a stalled request body stays open for
// good, and each holds a goroutine and a descriptor (issue 13: 200 idle
// keep-alives took 600 goroutines); past b.MaxConnections new connections
// wait in the kernel's queue.
func listenHTTP(addr string, b config.HTTPBounds, h http.Handler, logger *slog.Logger) (*http.Server, string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("http: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: b.ReadHeaderTimeout.D(),
		ReadTimeout:       b.ReadTimeout.D(),
		// net/http/pprof moves the write deadline for a profile's duration.
		WriteTimeout:   b.WriteTimeout.D(),
		IdleTimeout:    b.IdleTimeout.D(),
		MaxHeaderBytes: int(b.MaxHeaderBytes),
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelInfo),
	}
	l = connlimit.NewListener(l, b.MaxConnections)
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http", "err", err)
		}
	}()
	return srv, l.Addr().String(), nil
}

// loadTLS reads the submission certificate, if one is configured.
func loadTLS(cfg *config.Config) (*tls.Config, error) {
	if cfg.Submission.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.Submission.TLSCert, cfg.Submission.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("submission.tls_cert: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// nodeID is the default owner name of this node's leases: stable across
// restarts of the same node, so a restart takes its own leases back at once.
func nodeID(cfg *config.Config) string {
	if cfg.Server.NodeID != "" {
		return cfg.Server.NodeID
	}
	dir, err := filepath.Abs(cfg.Server.DataDir)
	if err != nil {
		dir = cfg.Server.DataDir
	}
	host, _ := os.Hostname()
	return host + ":" + dir
}

// closers runs shutdown steps in reverse order of registration.
type closers struct {
	mu  sync.Mutex
	fns []func() error
}

func (c *closers) add(f func() error) {
	c.mu.Lock()
	c.fns = append(c.fns, f)
	c.mu.Unlock()
}

func (c *closers) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for i := len(c.fns) - 1; i >= 0; i-- {
		errs = append(errs, c.fns[i]())
	}
	c.fns = nil
	return errors.Join(errs...)
}
