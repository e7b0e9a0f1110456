// Command bench measures sendpool, the real binary, against the sandbox's
// MX sinks, and Postfix beside it in the same run with the same messages
// and sessions (issue 7):
//
//	go run ./bench                      # 20,000 messages of 10 KB, 20 sessions; sendpool signing
//	                                    # with RSA and Ed25519, RSA alone, Ed25519 alone, not at all
//	go run ./bench -dkim rsa,off        # some of those runs only
//	go run ./bench -size 100KB
//	go run ./bench -queued 1000000      # lease/delivery with a full queue vs an empty one
//	go run ./bench -only sendpool -profile /tmp/prof
//	go run ./bench -inbound             # the MX beside Postfix's postscreen (inbound.go)
//
// ./scripts/bench installs Postfix when it is missing and runs this.
// Every run is bounded: the load ends when its messages are sent and the
// wait for their arrival is capped by -drain.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"sendpool/internal/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 20000, "messages per run")
	sizeText := fs.String("size", "10KB", "message size, headers included")
	sessions := fs.Int("sessions", 20, "concurrent SMTP sessions")
	domains := fs.String("domains", "gmail.test,outlook.test,yahoo.test,hotmail.test", "recipient domains, one sink each")
	only := fs.String("only", "", `"sendpool" or "postfix": run only that one`)
	queued := fs.Int("queued", 0, "fill sendpool's queue with this many deferred messages first and compare its lease/delivery rate with an empty queue's (sendpool only)")
	dkim := fs.String("dkim", "auto", `sendpool's runs: "auto" (all: DKIM with RSA and Ed25519, RSA alone, Ed25519 alone, and without); "on" (the three with DKIM); "off"; or a list of "both", "rsa", "ed25519", "off"`)
	profileDir := fs.String("profile", "", "write sendpool's CPU, heap and goroutine profiles (http.pprof) to this directory")
	profileFor := fs.Duration("profile-for", 15*time.Second, "length of the CPU profile, from the start of the load")
	drain := fs.Duration("drain", 5*time.Minute, "how long to wait for arrivals after the last message is accepted")
	keep := fs.Bool("keep", false, "keep the temporary directory (configs, logs, queues)")
	inbound := fs.Bool("inbound", false, "measure the MX (inbound.listen) beside Postfix with postscreen")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	size, err := config.ParseSize(*sizeText)
	if err != nil || size <= 0 {
		fmt.Fprintf(stderr, "bench: -size: %v\n", err)
		return 2
	}
	if *only != "" && *only != "sendpool" && *only != "postfix" {
		fmt.Fprintln(stderr, `bench: -only: want "sendpool" or "postfix"`)
		return 2
	}
	runs, err := dkimRuns(*dkim)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	if *queued > 0 && *only == "postfix" {
		fmt.Fprintln(stderr, "bench: -queued measures sendpool only")
		return 2
	}
	if *n <= 0 || *sessions <= 0 || *queued < 0 {
		fmt.Fprintln(stderr, "bench: -n and -sessions must be positive, -queued not negative")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tmp, err := os.MkdirTemp("", "sendpool-bench-")
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	// Postfix's daemons, running as the postfix user, must reach their
	// queue below it.
	if err := os.Chmod(tmp, 0o755); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if *keep {
		fmt.Fprintln(stdout, "temporary directory:", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	if *profileDir != "" {
		if err := os.MkdirAll(*profileDir, 0o755); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	p := &plan{
		N: *n, Sessions: *sessions, Size: int(size), Domains: strings.Split(*domains, ","),
		Drain: *drain, TmpDir: tmp, ProfileDir: *profileDir, ProfileFor: *profileFor, Log: stdout,
	}
	fmt.Fprintf(stdout, "sendpool bench: %d messages of %s, %d sessions, %d recipient domains, %d CPUs (load generator and sinks on the same machine)\n",
		p.N, *sizeText, p.Sessions, len(p.Domains), runtime.NumCPU())
	if *only != "postfix" {
		fmt.Fprintln(stdout, "building sendpool…")
		if p.Bin, err = buildSendpool(ctx, tmp); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	switch {
	case *inbound:
		err = p.inboundMode(ctx, stdout, *only)
	case *queued > 0:
		err = p.queuedMode(ctx, stdout, *queued)
	default:
		err = p.compare(ctx, stdout, *only, runs)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

// compare runs sendpool (once per DKIM run) and Postfix with the same
// load and prints them side by side.
func (p *plan) compare(ctx context.Context, out io.Writer, only string, dkimRuns []dkimRun) error {
	var runs, sendpool []*Figures
	var pf *Figures
	if only != "postfix" {
		for _, r := range dkimRuns {
			fmt.Fprintf(out, "%s:\n", r.Name)
			f, err := p.runSendpool(ctx, r)
			if err != nil {
				return fmt.Errorf("%s: %w", r.Name, err)
			}
			runs = append(runs, f)
			sendpool = append(sendpool, f)
		}
	}
	if only != "sendpool" {
		fmt.Fprintln(out, "postfix:")
		f, err := p.runPostfix(ctx)
		if err != nil {
			return fmt.Errorf("postfix: %w", err)
		}
		pf = f
		runs = append(runs, f)
	}
	fmt.Fprintln(out)
	printTable(out, runs, pf)
	fmt.Fprintln(out, "targets (issue 7: end-to-end with DKIM RSA-2048 on):")
	for _, sp := range sendpool {
		if pf != nil {
			check(out, "end-to-end ≥ 4× Postfix ("+sp.Name+")", sp.E2ERate >= 4*pf.E2ERate, ratio(sp.E2ERate, pf.E2ERate))
		}
		check(out, "accept p99 < 50 ms ("+sp.Name+")", sp.P99 < 50*time.Millisecond, ms(sp.P99)+" ms at "+fmt.Sprint(p.Sessions)+" sessions")
	}
	return nil
}
