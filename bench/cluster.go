package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"sendpool/internal/sandbox"
	"sendpool/internal/store/mongo"
)

// The shared store's mode (-store mongodb, issue 15): nodes sendpool
// processes on one MongoDB (FerretDB in tests) and one Redis, as a cluster
// runs, each taking its share of the sessions, every message delivered by
// whichever node leases it. Sendpool alone, DKIM off, pipelining client.

// clusterConfig is where the nodes keep their data.
type clusterConfig struct {
	Nodes    int
	MongoURI string // a server; each run gets a database of its own, dropped after
	RedisURL string // its database is flushed before each run
}

// clusterURLs gives the servers -mongodb and -redis name, or the test
// services' (SENDPOOL_TEST_MONGODB, SENDPOOL_TEST_REDIS, with Redis
// database 15: the bench flushes it).
func clusterURLs(mongoURI, redisURL string) (string, string, error) {
	if mongoURI == "" {
		mongoURI = os.Getenv("SENDPOOL_TEST_MONGODB")
	}
	if redisURL == "" {
		if v := os.Getenv("SENDPOOL_TEST_REDIS"); v != "" {
			u, err := url.Parse(v)
			if err != nil {
				return "", "", fmt.Errorf("SENDPOOL_TEST_REDIS: %w", err)
			}
			u.Path = "/15"
			redisURL = u.String()
		}
	}
	if mongoURI == "" || redisURL == "" {
		return "", "", fmt.Errorf("-store mongodb needs -mongodb and -redis (or SENDPOOL_TEST_MONGODB and SENDPOOL_TEST_REDIS)")
	}
	return mongoURI, redisURL, nil
}

// clusterMode measures the nodes under the pipelining client's load, for
// each size.
func (p *plan) clusterMode(ctx context.Context, out io.Writer, c clusterConfig, sizes []workload) error {
	var runs []*Figures
	for _, size := range sizes {
		q := *p
		q.Size, q.SizeText = size.Size, size.SizeText
		wl := size
		wl.Client = clientPipelining
		name := fmt.Sprintf("%d node(s), MongoDB + Redis", c.Nodes)
		fmt.Fprintf(out, "%s: %s\n", wl, name)
		f, err := q.runCluster(ctx, wl, c, name)
		if err != nil {
			fmt.Fprintf(out, "  %s: failed: %v\n", name, err)
			f = &Figures{Name: name, Side: sideSendpool, Work: wl, Err: err}
		}
		runs = append(runs, f)
	}
	fmt.Fprintln(out)
	printTable(out, runs, nil)
	for _, f := range runs {
		if f.Err != nil {
			return fmt.Errorf("%s: %w", f.Name, f.Err)
		}
	}
	return nil
}

// runCluster starts c.Nodes nodes on a fresh database, splits the
// sessions and messages among them, and measures as measure does, CPU
// summed over the nodes.
func (p *plan) runCluster(ctx context.Context, wl workload, c clusterConfig, name string) (*Figures, error) {
	dir, done, err := p.runDir("cluster-")
	if err != nil {
		return nil, err
	}
	defer done()
	w, err := p.newWorld(dir)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	db, err := freshDatabase(ctx, c)
	if err != nil {
		return nil, err
	}
	defer dropDatabase(c.MongoURI, db)
	u, err := url.Parse(c.MongoURI)
	if err != nil {
		return nil, fmt.Errorf("-mongodb: %w", err)
	}
	u.Path = "/" + db
	extra := fmt.Sprintf("[store]\nbackend = \"mongodb\"\nmongodb_uri = %q\n\n[state]\nbackend = \"redis\"\nredis_url = %q\n",
		u.String(), c.RedisURL)
	var procs []*sendpoolProc
	defer func() {
		for _, proc := range procs {
			proc.stop()
		}
	}()
	for k := range c.Nodes {
		nd := filepath.Join(dir, fmt.Sprintf("node%d", k))
		if err := os.Mkdir(nd, 0o755); err != nil {
			return nil, err
		}
		proc, err := startSendpool(ctx, sendpoolOptions{Bin: p.Bin, Dir: nd, World: w, Extra: extra,
			NodeID: fmt.Sprintf("bench-%d", k)})
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", k, err)
		}
		procs = append(procs, proc)
	}
	if err := procs[0].setupAccount(ctx); err != nil {
		return nil, err
	}
	f := &Figures{Name: name, Side: sideSendpool, Work: wl, DKIM: "off"}
	var loads []LoadConfig
	for k, proc := range procs {
		lc := p.loadFor(proc.smtpAddr, benchAccount, benchPassword, fmt.Sprintf("n%d", k), clientPipelining)
		lc.N = p.N / c.Nodes
		lc.Sessions = max(1, p.Sessions/c.Nodes)
		if k < p.N%c.Nodes {
			lc.N++
		}
		loads = append(loads, lc)
	}
	err = p.measureAll(ctx, f, loads, w, meters{server: func() (float64, error) {
		total := 0.0
		for _, proc := range procs {
			s, _, err := cpuTimes(proc.pid())
			if err != nil {
				return 0, err
			}
			total += s
		}
		return total, nil
	}})
	if err != nil {
		return nil, err
	}
	for _, proc := range procs {
		kb, err := statusKB(proc.pid(), "VmHWM")
		if err != nil {
			return nil, err
		}
		f.PeakRSSKB = max(f.PeakRSSKB, kb)
	}
	f.Notes = append([]string{fmt.Sprintf("DKIM off; %d nodes on one MongoDB and one Redis, peak RSS of the largest", c.Nodes)}, f.Notes...)
	return f, nil
}

// measureAll runs loads at once and measures them as one load.
func (p *plan) measureAll(ctx context.Context, f *Figures, loads []LoadConfig, w *sandbox.World, m meters) error {
	all := loads[0]
	all.N = 0
	for _, lc := range loads {
		all.N += lc.N
	}
	all.Sessions = 0
	for _, lc := range loads {
		all.Sessions += lc.Sessions
	}
	run := func(ctx context.Context) LoadResult {
		res := make([]LoadResult, len(loads))
		var wg sync.WaitGroup
		for k, lc := range loads {
			wg.Go(func() { res[k] = lc.Run(ctx) })
		}
		wg.Wait()
		out := res[0]
		for _, r := range res[1:] {
			out.Accepted += r.Accepted
			out.Failed += r.Failed
			out.FirstErr = cmp(out.FirstErr, r.FirstErr)
			if r.Start.Before(out.Start) {
				out.Start = r.Start
			}
			if r.LastAccept.After(out.LastAccept) {
				out.LastAccept = r.LastAccept
			}
			out.Latencies = append(out.Latencies, r.Latencies...)
		}
		return out
	}
	return p.measureWith(ctx, f, all, run, w, m)
}

// freshDatabase names a database of the run's own and flushes the Redis
// database.
func freshDatabase(ctx context.Context, c clusterConfig) (string, error) {
	opts, err := goredis.ParseURL(c.RedisURL)
	if err != nil {
		return "", fmt.Errorf("-redis: %w", err)
	}
	rc := goredis.NewClient(opts)
	defer rc.Close()
	if err := rc.FlushDB(ctx).Err(); err != nil {
		return "", fmt.Errorf("flush redis: %w", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	return "bench_" + hex.EncodeToString(b), nil
}

// dropDatabase removes the run's database.
func dropDatabase(uri, db string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := mongo.Open(ctx, uri, mongo.Options{Database: db})
	if err != nil {
		return
	}
	s.Drop(ctx)
	s.Close()
}
