package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"sendpool/internal/config"
	"sendpool/internal/queue"
	"sendpool/internal/store/sqlite"
)

// runBackup copies the embedded store (data_dir/queue.db) to a new file,
// consistently, while serve may be running (sqlite.Backup). MongoDB is
// backed up with its own tools.
func runBackup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default: built-in defaults)")
	to := fs.String("to", "", "the copy to write; must not exist")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *to == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: sendpool backup [-config FILE] -to FILE")
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
	if cfg.Store.Backend != "sqlite" {
		fmt.Fprintf(stderr, "sendpool: store.backend is %q: the queue is in MongoDB; back it up with mongodump "+
			"(docs/operations.md, \"Backups\"). Redis holds no mail.\n", cfg.Store.Backend)
		return 1
	}
	src := filepath.Join(cfg.Server.DataDir, "queue.db")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	info, err := sqlite.Backup(ctx, src, *to)
	if err != nil {
		fmt.Fprintf(stderr, "sendpool: %v\n", err)
		return 1
	}
	var counts []string
	for _, st := range []queue.Status{queue.StatusQueued, queue.StatusDeferred, queue.StatusHeld, queue.StatusDelivered, queue.StatusBounced} {
		counts = append(counts, fmt.Sprintf("%d %s", info.Deliveries[st], st))
	}
	fmt.Fprintf(stdout, "backup:     %s (from %s)\nmessages:   %d\ndeliveries: %s\nschema:     %d\nsize:       %s\ntook:       %v\n",
		*to, src, info.Messages, strings.Join(counts, ", "), info.Schema, humanBytes(info.Bytes), info.Took.Round(1e6))
	return 0
}

// humanBytes writes n in the largest binary unit under it.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 3 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB (%d bytes)", v, "KMGT"[i], n)
}
