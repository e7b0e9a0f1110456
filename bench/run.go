package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sendpool/internal/sandbox"
)

// Figures are one run's results, as the report prints them.
type Figures struct {
	Name  string
	Notes []string

	N, Accepted, Failed int
	Delivered           int // arrivals at the sinks
	FirstErr            error

	AcceptRate float64 // accepted / (first submission → last 250)
	E2ERate    float64 // delivered / (first submission → last arrival)
	P50, P99   time.Duration
	PeakRSSKB  int64
	CPUPer1000 float64  // CPU seconds per 1,000 messages
	Signatures []string // a= of the signatures on the first arrival (sendpool)
	// BenchCPUPer1000 is the bench's own (load generator and sinks).
	BenchCPUPer1000 float64
	E2E             time.Duration
}

// pssEvery is how often Postfix's memory is sampled.
const pssEvery = time.Second

// plan is what every run shares.
type plan struct {
	N, Sessions, Size int
	Domains           []string
	Drain             time.Duration // how long to wait for arrivals after the last 250
	TmpDir            string
	Bin               string
	ProfileDir        string
	ProfileFor        time.Duration
	Log               io.Writer
}

// domainAddrs gives each recipient domain a sink address 127.0.0.11 on.
func domainAddrs(domains []string) map[string]string {
	m := map[string]string{}
	for i, d := range domains {
		m[d] = fmt.Sprintf("127.0.0.%d", 11+i)
	}
	return m
}

// newWorld starts a fresh world (DNS, one counting sink per domain).
func (p *plan) newWorld() (*sandbox.World, error) {
	return sandbox.StartWorld(sandbox.WorldConfig{Domains: domainAddrs(p.Domains), Discard: true})
}

// received sums the world's arrivals and gives the last one's time.
func received(w *sandbox.World) (int, time.Time) {
	total, last := 0, time.Time{}
	for _, s := range w.Sinks() {
		n, at := s.Received()
		total += n
		if at.After(last) {
			last = at
		}
	}
	return total, last
}

// waitArrivals waits until want messages arrived or the drain time passes
// with no progress... bounded either way.
func waitArrivals(ctx context.Context, w *sandbox.World, want int, drain time.Duration) (int, time.Time) {
	deadline := time.Now().Add(drain)
	for {
		n, last := received(w)
		if n >= want || time.Now().After(deadline) || ctx.Err() != nil {
			return n, last
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// measure runs the load against addr and waits for the arrivals; cpu
// reads the server's CPU seconds so far.
func (p *plan) measure(ctx context.Context, name string, lc LoadConfig, w *sandbox.World, cpu func() (float64, error)) (*Figures, error) {
	f := &Figures{Name: name, N: lc.N}
	cpu0, err := cpu()
	if err != nil {
		return nil, err
	}
	self0, _, err := cpuTimes(os.Getpid())
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(p.Log, "  %s: sending %d messages of %d bytes over %d sessions…\n", name, lc.N, lc.Size, lc.Sessions)
	res := lc.Run(ctx)
	f.Accepted, f.Failed, f.FirstErr = res.Accepted, res.Failed, res.FirstErr
	fmt.Fprintf(p.Log, "  %s: %d accepted, %d failed in %v; waiting for delivery…\n", name, res.Accepted, res.Failed, res.LastAccept.Sub(res.Start).Round(time.Millisecond))
	var last time.Time
	f.Delivered, last = waitArrivals(ctx, w, res.Accepted, p.Drain)
	cpu1, err := cpu()
	if err != nil {
		return nil, err
	}
	self1, _, err := cpuTimes(os.Getpid())
	if err != nil {
		return nil, err
	}
	if f.Accepted > 0 {
		f.AcceptRate = float64(f.Accepted) / res.LastAccept.Sub(res.Start).Seconds()
		f.P50, f.P99 = percentile(res.Latencies, 50), percentile(res.Latencies, 99)
		f.CPUPer1000 = (cpu1 - cpu0) / float64(f.Accepted) * 1000
		f.BenchCPUPer1000 = (self1 - self0) / float64(f.Accepted) * 1000
	}
	if f.Delivered > 0 {
		f.E2E = last.Sub(res.Start)
		f.E2ERate = float64(f.Delivered) / f.E2E.Seconds()
	}
	if f.Delivered < f.Accepted {
		f.Notes = append(f.Notes, fmt.Sprintf("only %d of %d accepted messages arrived within %v", f.Delivered, f.Accepted, p.Drain))
	}
	if f.Failed > 0 {
		f.Notes = append(f.Notes, fmt.Sprintf("%d messages refused; first: %v", f.Failed, f.FirstErr))
	}
	return f, nil
}

// loadFor is the load of one run.
func (p *plan) loadFor(addr, user, pass, runID string) LoadConfig {
	return LoadConfig{Addr: addr, User: user, Password: pass, From: benchFrom, Domains: p.Domains,
		N: p.N, Sessions: p.Sessions, Size: p.Size, RunID: runID}
}

// runSendpool measures the real binary, signing as run says.
func (p *plan) runSendpool(ctx context.Context, run dkimRun) (*Figures, error) {
	w, err := p.newWorld()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	dir, err := os.MkdirTemp(p.TmpDir, "sendpool-")
	if err != nil {
		return nil, err
	}
	proc, err := startSendpool(ctx, sendpoolOptions{Bin: p.Bin, Dir: dir, World: w, Pprof: p.ProfileDir != "", Extra: run.config()})
	if err != nil {
		return nil, err
	}
	defer proc.stop()
	if err := proc.setupAccount(ctx); err != nil {
		return nil, err
	}
	note := "DKIM off"
	if run.Algorithms != nil {
		on, why, err := proc.enableDKIM(ctx, w)
		if err != nil {
			return nil, err
		}
		if !on {
			return nil, fmt.Errorf("%s (run with -dkim off)", why)
		}
		note = "DKIM on, dkim.algorithms = " + strings.Join(run.Algorithms, ", ") + " (POST /api/v1/domains made an RSA-2048 and an Ed25519 key)"
	}
	if p.ProfileDir != "" {
		stop := p.profile(ctx, proc, run.Name)
		defer stop()
	}
	f, err := p.measure(ctx, run.Name, p.loadFor(proc.smtpAddr, benchAccount, benchPassword, "sp"), w, func() (float64, error) {
		s, _, err := cpuTimes(proc.pid())
		return s, err
	})
	if err != nil {
		return nil, err
	}
	if f.PeakRSSKB, err = statusKB(proc.pid(), "VmHWM"); err != nil {
		return nil, err
	}
	f.Signatures = signaturesSeen(w)
	f.Notes = append([]string{note + "; " + describeSignatures(f.Signatures)}, f.Notes...)
	return f, nil
}

// signaturesSeen lists the a= of the DKIM signatures the first message to
// arrive carried, as the sinks saw them; nil if none arrived.
func signaturesSeen(w *sandbox.World) []string {
	for _, s := range w.Sinks() {
		for _, m := range s.Messages() {
			return append([]string{}, dkimAlgorithms(m.Data)...)
		}
	}
	return nil
}

func describeSignatures(algs []string) string {
	switch {
	case algs == nil:
		return "no message arrived"
	case len(algs) == 0:
		return "messages arrived unsigned"
	}
	return fmt.Sprintf("messages arrived signed: %v", algs)
}

// runPostfix measures a private Postfix instance relaying to the sinks.
func (p *plan) runPostfix(ctx context.Context) (*Figures, error) {
	w, err := p.newWorld()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	dir, err := os.MkdirTemp(p.TmpDir, "postfix-")
	if err != nil {
		return nil, err
	}
	pf, err := startPostfix(ctx, dir, w, p.Domains)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := pf.stop(); err != nil {
			fmt.Fprintln(p.Log, "  ", err)
		}
	}()
	master, err := pf.masterPID()
	if err != nil {
		return nil, fmt.Errorf("postfix master pid: %w", err)
	}
	// Postfix is many processes that come and go: sample their summed
	// PSS rather than one process's high-water mark. Not more often: the
	// reading costs the bench CPU that Postfix would otherwise have.
	rss := samplePeak(ctx, pssEvery, func() int64 { return treePSS(master) })
	f, err := p.measure(ctx, "postfix "+pf.version, p.loadFor(pf.smtpAddr, "", "", "pf"), w, func() (float64, error) {
		return treeCPU(master)
	})
	peak := rss.Stop()
	if err != nil {
		return nil, err
	}
	f.PeakRSSKB = peak
	f.Notes = append([]string{"no DKIM, no AUTH (relay by mynetworks); peak memory is the summed PSS of its processes, sampled every " + pssEvery.String()}, f.Notes...)
	return f, nil
}

// profile fetches a CPU profile of the load (ProfileFor long), the
// goroutines halfway and, when stopped, a heap profile; they go to
// ProfileDir, named after the run.
func (p *plan) profile(ctx context.Context, proc *sendpoolProc, run string) (stop func()) {
	prefix := strings.NewReplacer(" ", "", ",", "-").Replace(run) + "."
	base := "http://" + proc.httpAddr + "/debug/pprof/"
	fetch := func(path, file string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+benchToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(p.Log, "  profile:", err)
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintln(p.Log, "  profile:", path, resp.Status)
			return
		}
		out, err := os.Create(filepath.Join(p.ProfileDir, prefix+file))
		if err != nil {
			fmt.Fprintln(p.Log, "  profile:", err)
			return
		}
		defer out.Close()
		io.Copy(out, resp.Body)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fetch(fmt.Sprintf("profile?seconds=%d", int(p.ProfileFor.Seconds())), "cpu.pprof")
	}()
	// Where the goroutines wait, in the middle of the load.
	mid := time.AfterFunc(p.ProfileFor/2, func() { fetch("goroutine?debug=1", "goroutines.txt") })
	return func() {
		mid.Stop()
		fetch("heap", "heap.pprof")
		<-done
		fmt.Fprintf(p.Log, "  profiles in %s (go tool pprof -top %s)\n", p.ProfileDir, filepath.Join(p.ProfileDir, prefix+"cpu.pprof"))
	}
}
