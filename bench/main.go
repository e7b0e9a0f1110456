// Command bench measures sendpool, the real binary, against the sandbox's
// MX sinks, and Postfix beside it in the same run with the same messages
// and sessions (issues 7 and 15):
//
//	go run ./bench                      # 20,000 messages of 10 KB, then of 100 KB, 20 sessions, from
//	                                    # each client: pipelining, plain, and a hosting server's Postfix;
//	                                    # sendpool signing with RSA and Ed25519, RSA alone, Ed25519
//	                                    # alone, not at all; Postfix alone and with OpenDKIM
//	go run ./bench -client plain -size 10KB -dkim rsa,off
//	go run ./bench -queued 1000000      # lease/delivery with a full queue vs an empty one
//	go run ./bench -only sendpool -profile /tmp/prof
//	go run ./bench -inbound             # the MX beside Postfix's postscreen (inbound.go)
//	go run ./bench -store mongodb -nodes 2 -n 5000 -size 10KB   # two nodes on one MongoDB + Redis (cluster.go)
//
// The sinks read each message's header as a receiving MX does, log one
// line per message and count malformed headers and missing signatures.
// ./scripts/bench installs Postfix, OpenDKIM and the SASL tools when they
// are missing and runs this. Every run is bounded: the load ends when its
// messages are sent and the wait for their arrival is capped by -drain;
// what a run starts (sendpool, Postfix instances, OpenDKIM) it stops.
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
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 20000, "messages per run")
	sizeText := fs.String("size", "10KB,100KB", "message sizes, headers included, comma-separated: each is a workload")
	clientText := fs.String("client", "pipelining,plain,postfix", `where the load comes from, comma-separated: "pipelining" (the load generator, pipelined, one connection per session), "plain" (no pipelining, a new connection every 10 messages), "postfix" (a hosting server's Postfix with the relay as its smarthost)`)
	sessions := fs.Int("sessions", 20, "concurrent SMTP sessions")
	domains := fs.String("domains", "gmail.test,outlook.test,yahoo.test,hotmail.test", "recipient domains, one sink each")
	only := fs.String("only", "", `"sendpool" or "postfix": run only that one`)
	queued := fs.Int("queued", 0, "fill sendpool's queue with this many deferred messages first and compare its lease/delivery rate with an empty queue's (sendpool only)")
	dkim := fs.String("dkim", "auto", `sendpool's runs: "auto" (all: DKIM with RSA and Ed25519, RSA alone, Ed25519 alone, and without); "on" (the three with DKIM); "off"; or a list of "both", "rsa", "ed25519", "off"`)
	profileDir := fs.String("profile", "", "write sendpool's CPU, heap and goroutine profiles (http.pprof) to this directory")
	profileFor := fs.Duration("profile-for", 15*time.Second, "length of the CPU profile, from the start of the load")
	drain := fs.Duration("drain", 5*time.Minute, "how long to wait for arrivals after the last message is accepted")
	keep := fs.Bool("keep", false, "keep the temporary directory (configs, logs, queues, the sinks' logs)")
	inbound := fs.Bool("inbound", false, "measure the MX (inbound.listen) beside Postfix with postscreen")
	storeKind := fs.String("store", "sqlite", `sendpool's store: "sqlite" (one node, the comparison with Postfix) or "mongodb" (sendpool alone, -nodes nodes on one MongoDB and one Redis, pipelining client, DKIM off)`)
	nodes := fs.Int("nodes", 1, "with -store mongodb: how many nodes share the store, the sessions and the messages")
	mongoURI := fs.String("mongodb", "", "with -store mongodb: the server (default $SENDPOOL_TEST_MONGODB); each run uses a database of its own and drops it")
	redisURL := fs.String("redis", "", "with -store mongodb: the Redis, whose database is flushed before each run (default $SENDPOOL_TEST_REDIS with database 15)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sizes, err := parseSizes(*sizeText)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	clients, err := parseClients(*clientText)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
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

	var cluster clusterConfig
	switch *storeKind {
	case "sqlite":
		if *nodes != 1 {
			fmt.Fprintln(stderr, "bench: -nodes: more than one node needs -store mongodb")
			return 2
		}
	case "mongodb":
		if *nodes < 1 || *inbound || *queued > 0 || *only == sidePostfix {
			fmt.Fprintln(stderr, "bench: -store mongodb measures sendpool alone, on -nodes 1 or more")
			return 2
		}
		cluster.Nodes = *nodes
		if cluster.MongoURI, cluster.RedisURL, err = clusterURLs(*mongoURI, *redisURL); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 2
		}
	default:
		fmt.Fprintln(stderr, `bench: -store: want "sqlite" or "mongodb"`)
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
		N: *n, Sessions: *sessions, Size: sizes[0].Size, SizeText: sizes[0].SizeText, Domains: strings.Split(*domains, ","),
		Drain: *drain, TmpDir: tmp, Keep: *keep, ProfileDir: *profileDir, ProfileFor: *profileFor, Log: stdout,
	}
	fmt.Fprintf(stdout, "sendpool bench: %d messages of %s, %d sessions, %d recipient domains, %d CPUs (load generator, sinks and both servers on the same machine)\n",
		p.N, *sizeText, p.Sessions, len(p.Domains), runtime.NumCPU())
	if *only != "postfix" {
		fmt.Fprintln(stdout, "building sendpool…")
		if p.Bin, err = buildSendpool(ctx, tmp); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	switch {
	case cluster.Nodes > 0:
		err = p.clusterMode(ctx, stdout, cluster, sizes)
	case *inbound:
		err = p.inboundMode(ctx, stdout, *only)
	case *queued > 0:
		err = p.queuedMode(ctx, stdout, *queued)
	default:
		err = p.compare(ctx, stdout, *only, sizes, clients, runs)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

// compare runs, per size and client, Postfix (without DKIM, and with
// OpenDKIM when sendpool signs in some run) and sendpool (once per DKIM
// run) under the same load, and prints them side by side, then the
// targets. A run that fails is reported and the others go on; the error
// says how many failed.
func (p *plan) compare(ctx context.Context, out io.Writer, only string, sizes []workload, clients []string, dkimRuns []dkimRun) error {
	var runs []*Figures
	// do makes one run and keeps its figures, or its error and the others
	// go on; none once ctx ends (an interrupt).
	do := func(wl workload, side, name string, run func() (*Figures, error)) {
		if ctx.Err() != nil {
			return
		}
		f, err := run()
		if err != nil {
			fmt.Fprintf(out, "  %s: failed: %v\n", name, err)
			f = &Figures{Name: name, Side: side, Work: wl, Err: err}
		}
		runs = append(runs, f)
	}
	signed, unsigned := false, false
	for _, r := range dkimRuns {
		signed = signed || r.Algorithms != nil
		unsigned = unsigned || r.Algorithms == nil
	}
	for _, size := range sizes {
		q := *p
		q.Size, q.SizeText = size.Size, size.SizeText
		for _, client := range clients {
			wl := size
			wl.Client = client
			fmt.Fprintf(out, "%s: %s\n", wl, clientNotes[client])
			if only != sideSendpool {
				if unsigned || only == sidePostfix {
					do(wl, sidePostfix, "postfix", func() (*Figures, error) { return q.runPostfix(ctx, wl, false) })
				}
				if signed {
					do(wl, sidePostfix, "postfix + OpenDKIM", func() (*Figures, error) { return q.runPostfix(ctx, wl, true) })
				}
			}
			if only != sidePostfix {
				for _, r := range dkimRuns {
					do(wl, sideSendpool, r.Name, func() (*Figures, error) { return q.runSendpool(ctx, wl, r) })
				}
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	fmt.Fprintln(out)
	printTable(out, runs, nil)
	fmt.Fprintln(out)
	if only == "" {
		printComparison(out, runs)
		fmt.Fprintln(out)
	}
	printTargets(out, p.Sessions, runs)
	failed := 0
	for _, f := range runs {
		if f.Err != nil {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d runs failed (above)", failed, len(runs))
	}
	return nil
}
