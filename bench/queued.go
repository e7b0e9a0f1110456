package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/store/sqlite"
)

// fillOwner names the bench's own leases while it defers the filler.
const fillOwner = "bench-fill"

// fillConcurrency is how many Puts and Reports are in flight while
// filling: enough for the store's group commit to make big batches.
const fillConcurrency = 512

// queuedMode measures how fast due work is leased and delivered with
// deferred messages in the queue, against the same with an empty queue.
// Each variant pre-stores N due messages (and the deferred ones) through
// the queue.Store API before sendpool starts, then times their draining;
// then it submits N more over SMTP to see intake with that queue.
func (p *plan) queuedMode(ctx context.Context, out io.Writer, deferred int) error {
	fmt.Fprintf(out, "queued mode: %d due messages drained with 0, then %d, deferred messages in the queue (sendpool only; Postfix is not filled)\n", p.N, deferred)
	var runs []*Figures
	var drains []float64
	for _, d := range []int{0, deferred} {
		fmt.Fprintf(out, "sendpool with %d deferred:\n", d)
		f, drain, err := p.runQueued(ctx, out, d)
		if err != nil {
			return err
		}
		runs = append(runs, f)
		drains = append(drains, drain)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "lease/delivery of pre-stored due messages (sendpool start → last arrival):")
	for i, f := range runs {
		fmt.Fprintf(out, "  %-28s %8.0f msg/s\n", f.Name, drains[i])
	}
	fmt.Fprintln(out, "then SMTP submission with that queue:")
	printTable(out, runs, runs[0])
	fmt.Fprintln(out, "targets:")
	check(out, fmt.Sprintf("lease/delivery rate with %d deferred within 20%% of empty", deferred),
		drains[1] >= 0.8*drains[0], ratio(drains[1], drains[0])+" of the empty queue's")
	if deferred >= 100000 {
		check(out, fmt.Sprintf("peak RSS < 300 MB with %d queued", deferred),
			runs[1].PeakRSSKB < 300*1024, fmt.Sprintf("%.0f MB", float64(runs[1].PeakRSSKB)/1024))
	}
	return nil
}

// runQueued is one variant: fill, start, drain, then submit.
func (p *plan) runQueued(ctx context.Context, out io.Writer, deferred int) (*Figures, float64, error) {
	dir, done, err := p.runDir("queued-")
	if err != nil {
		return nil, 0, err
	}
	defer done()
	w, err := p.newWorld(dir)
	if err != nil {
		return nil, 0, err
	}
	defer w.Close()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		return nil, 0, err
	}
	t0 := time.Now()
	if err := p.fill(ctx, out, filepath.Join(data, "queue.db"), deferred); err != nil {
		return nil, 0, err
	}
	fmt.Fprintf(out, "  filled in %v\n", time.Since(t0).Round(time.Millisecond))

	proc, err := startSendpool(ctx, sendpoolOptions{Bin: p.Bin, Dir: dir, World: w, Pprof: p.ProfileDir != ""})
	if err != nil {
		return nil, 0, err
	}
	defer proc.stop()
	var stopProfile func()
	if p.ProfileDir != "" {
		stopProfile = p.profile(ctx, proc, fmt.Sprintf("drain, %d deferred", deferred))
	}
	got, last := waitArrivals(ctx, w, p.N, p.Drain)
	if stopProfile != nil {
		stopProfile()
	}
	if got < p.N {
		return nil, 0, fmt.Errorf("only %d of %d due messages arrived within %v", got, p.N, p.Drain)
	}
	drain := float64(got) / last.Sub(proc.started).Seconds()
	cpu, _, err := cpuTimes(proc.pid())
	if err != nil {
		return nil, 0, err
	}
	fmt.Fprintf(out, "  drained %d due messages in %v: %.0f msg/s, %.2f CPU s/1000 msg (start-up included)\n",
		got, last.Sub(proc.started).Round(time.Millisecond), drain, cpu/float64(got)*1000)

	for _, s := range w.Sinks() {
		s.Reset()
	}
	if err := proc.setupAccount(ctx); err != nil {
		return nil, 0, err
	}
	name := fmt.Sprintf("sendpool, %d deferred", deferred)
	if p.ProfileDir != "" && deferred > 0 {
		stop := p.profile(ctx, proc, name)
		defer stop()
	}
	f := &Figures{Name: name, Side: sideSendpool, Work: workload{Size: p.Size, SizeText: p.SizeText, Client: clientPipelining}, DKIM: "off"}
	lc := p.loadFor(proc.smtpAddr, benchAccount, benchPassword, fmt.Sprintf("q%d", deferred), clientPipelining)
	err = p.measure(ctx, f, lc, w, meters{server: func() (float64, error) {
		s, _, err := cpuTimes(proc.pid())
		return s, err
	}})
	if err != nil {
		return nil, 0, err
	}
	if f.PeakRSSKB, err = statusKB(proc.pid(), "VmHWM"); err != nil {
		return nil, 0, err
	}
	f.Notes = append(f.Notes, "DKIM off in queued mode (pre-stored messages are not signed)")
	return f, drain, nil
}

// fill stores deferred messages (small, due in 24 to 48 hours, each with
// one failed attempt on record), then p.N messages due now, through the
// queue.Store API of the file sendpool will open.
func (p *plan) fill(ctx context.Context, out io.Writer, path string, deferred int) error {
	st, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	small := makeFiller(800)
	lc := p.loadFor("", "", "", "fill", clientPipelining)
	put := func(count int, body func(i int) []byte, what string) error {
		return parallel(ctx, count, func(i int) error {
			now := time.Now()
			return st.Put(ctx, &queue.Message{
				Account: benchAccount, From: benchFrom, Recipients: []string{lc.Recipient(i)},
				Body: body(i), Created: now, Expires: now.Add(72 * time.Hour),
			})
		}, func(done int) { fmt.Fprintf(out, "  %s: %d stored\n", what, done) })
	}
	if deferred > 0 {
		dl := LoadConfig{From: benchFrom, Domains: p.Domains, RunID: "deferred"}
		if err := put(deferred, func(i int) []byte { return append([]byte(dl.header(i)), small...) }, "deferred"); err != nil {
			return err
		}
		if err := deferAll(ctx, out, st, deferred); err != nil {
			return err
		}
	}
	filler := makeFiller(p.Size)
	lc.RunID = "due"
	return put(p.N, func(i int) []byte { return append([]byte(lc.header(i)), filler...) }, "due")
}

// deferAll leases every due delivery and reports it deferred into the
// future, as a failed attempt would.
func deferAll(ctx context.Context, out io.Writer, st *sqlite.Store, want int) error {
	done := 0
	for done < want {
		now := time.Now()
		ls, err := st.Lease(ctx, fillOwner, now, time.Hour, 20000)
		if err != nil {
			return err
		}
		if len(ls) == 0 {
			return fmt.Errorf("deferred %d of %d: nothing left to lease", done, want)
		}
		err = parallel(ctx, len(ls), func(i int) error {
			l := &ls[i]
			next := now.Add(24*time.Hour + time.Duration(i%86400)*time.Second)
			return st.Report(ctx, l, queue.Outcome{
				Status: queue.StatusDeferred, Next: next,
				Attempt: queue.Attempt{Time: now, SourceIP: "127.0.0.2", MX: "mx." + l.Domain, MXAddr: "127.0.0.11:25",
					Response: "451 4.7.1 bench: try again later", Verdict: string(queue.VerdictDeferred), Category: "greylist"},
			})
		}, nil)
		if err != nil {
			return err
		}
		done += len(ls)
		if done%100000 < len(ls) {
			fmt.Fprintf(out, "  deferred: %d\n", done)
		}
	}
	return nil
}

// parallel calls f(0..count-1) from fillConcurrency goroutines and stops
// at the first error; progress, if set, hears of every 100,000th.
func parallel(ctx context.Context, count int, f func(i int) error, progress func(done int)) error {
	var next, finished atomic.Int64
	var once sync.Once
	var first error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range min(fillConcurrency, count) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= count {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
				if d := finished.Add(1); progress != nil && d%100000 == 0 {
					progress(int(d))
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
