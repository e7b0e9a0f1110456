package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"sendpool/internal/sandbox"
)

// The two sides of every comparison.
const (
	sideSendpool = "sendpool"
	sidePostfix  = "postfix"
)

// Figures are one run's results, as the report prints them.
type Figures struct {
	Name string
	Side string // sideSendpool or sidePostfix
	Work workload
	// DKIM is, for sendpool, its dkimRun's key; for Postfix "off" or
	// "opendkim".
	DKIM  string
	Signs bool // every arrival should carry a DKIM-Signature
	Notes []string
	Err   error // the run could not be made; the other fields are empty

	N, Accepted, Failed int
	Delivered           int // arrivals at the sinks
	FirstErr            error

	AcceptRate float64 // accepted / (first submission → last 250)
	E2ERate    float64 // delivered / (first submission → last arrival)
	P50, P99   time.Duration
	PeakRSSKB  int64
	// CPUPer1000 is the server's own CPU seconds per 1,000 messages:
	// sendpool's, or all of Postfix's processes'.
	CPUPer1000 float64
	// MilterCPUPer1000 is OpenDKIM's, beside Postfix's.
	MilterCPUPer1000 float64
	// FrontCPUPer1000 is the hosting server's Postfix's, in the
	// postfix-smarthost workload: the same on both sides, counted on
	// neither.
	FrontCPUPer1000 float64
	// BenchCPUPer1000 is the bench's own (load generator and sinks).
	BenchCPUPer1000 float64
	Sinks           sandbox.ParseStats // what the sinks found parsing the arrivals
	Signatures      []string           // a= of the signatures on the first arrival
	E2E             time.Duration
}

// ServerCPUPer1000 is all the CPU the measured side spent: sendpool's, or
// Postfix's and OpenDKIM's.
func (f *Figures) ServerCPUPer1000() float64 { return f.CPUPer1000 + f.MilterCPUPer1000 }

// Unsigned counts the arrivals that lacked the DKIM-Signature the run
// should have put on them; 0 when it does not sign.
func (f *Figures) Unsigned() int {
	if !f.Signs {
		return 0
	}
	return f.Sinks.Parsed - f.Sinks.Signed
}

// pssEvery is how often Postfix's memory is sampled.
const pssEvery = time.Second

// plan is what every run shares.
type plan struct {
	N, Sessions, Size int
	SizeText          string
	Domains           []string
	Drain             time.Duration // how long to wait for arrivals after the last 250
	TmpDir            string
	Keep              bool // keep each run's directory (configs, logs, queues)
	Bin               string
	ProfileDir        string
	ProfileFor        time.Duration
	Log               io.Writer
}

// runDir makes a run's directory; done removes it unless p.Keep.
func (p *plan) runDir(prefix string) (dir string, done func(), err error) {
	dir, err = os.MkdirTemp(p.TmpDir, prefix)
	if err != nil {
		return "", nil, err
	}
	// Postfix's and OpenDKIM's daemons, running as their users, must
	// reach their directories below it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", nil, err
	}
	return dir, func() {
		if !p.Keep {
			os.RemoveAll(dir)
		}
	}, nil
}

// domainAddrs gives each recipient domain a sink address 127.0.0.11 on.
func domainAddrs(domains []string) map[string]string {
	m := map[string]string{}
	for i, d := range domains {
		m[d] = fmt.Sprintf("127.0.0.%d", 11+i)
	}
	return m
}

// newWorld starts a fresh world: DNS, and per domain a sink that counts
// its messages without keeping them, reads each one's header as a
// receiving MX does and, with logDir, logs a line per message there.
func (p *plan) newWorld(logDir string) (*sandbox.World, error) {
	return sandbox.StartWorld(sandbox.WorldConfig{Domains: domainAddrs(p.Domains), Discard: true, Parse: true, LogDir: logDir})
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

// parseStats sums what the world's sinks found parsing.
func parseStats(w *sandbox.World) sandbox.ParseStats {
	var t sandbox.ParseStats
	for _, s := range w.Sinks() {
		st := s.ParseStats()
		t.Parsed += st.Parsed
		t.Failed += st.Failed
		t.Signed += st.Signed
	}
	return t
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

// cpuMeter reads a process's (or a process tree's) CPU seconds so far.
type cpuMeter func() (float64, error)

// meters are the CPU meters of a run: the server measured, and beside it
// its milter and the hosting server's Postfix (nil: none).
type meters struct {
	server, milter, front cpuMeter
}

// read is each meter's reading, 0 for a meter not there.
func (m meters) read() ([3]float64, error) {
	var out [3]float64
	for i, f := range []cpuMeter{m.server, m.milter, m.front} {
		if f == nil {
			continue
		}
		v, err := f()
		if err != nil {
			return out, err
		}
		out[i] = v
	}
	return out, nil
}

// measure runs the load and waits for the arrivals, filling f.
func (p *plan) measure(ctx context.Context, f *Figures, lc LoadConfig, w *sandbox.World, m meters) error {
	return p.measureWith(ctx, f, lc, lc.Run, w, m)
}

// measureWith is measure with the load run by run (lc describes it).
func (p *plan) measureWith(ctx context.Context, f *Figures, lc LoadConfig, run func(context.Context) LoadResult,
	w *sandbox.World, m meters) error {
	f.N = lc.N
	cpu0, err := m.read()
	if err != nil {
		return err
	}
	self0, _, err := cpuTimes(os.Getpid())
	if err != nil {
		return err
	}
	fmt.Fprintf(p.Log, "  %s: sending %d messages of %d bytes over %d sessions…\n", f.Name, lc.N, lc.Size, lc.Sessions)
	res := run(ctx)
	f.Accepted, f.Failed, f.FirstErr = res.Accepted, res.Failed, res.FirstErr
	fmt.Fprintf(p.Log, "  %s: %d accepted, %d failed in %v; waiting for delivery…\n", f.Name, res.Accepted, res.Failed, res.LastAccept.Sub(res.Start).Round(time.Millisecond))
	var last time.Time
	f.Delivered, last = waitArrivals(ctx, w, res.Accepted, p.Drain)
	cpu1, err := m.read()
	if err != nil {
		return err
	}
	self1, _, err := cpuTimes(os.Getpid())
	if err != nil {
		return err
	}
	if f.Accepted > 0 {
		f.AcceptRate = float64(f.Accepted) / res.LastAccept.Sub(res.Start).Seconds()
		f.P50, f.P99 = percentile(res.Latencies, 50), percentile(res.Latencies, 99)
		per1000 := func(k int) float64 { return (cpu1[k] - cpu0[k]) / float64(f.Accepted) * 1000 }
		f.CPUPer1000, f.MilterCPUPer1000, f.FrontCPUPer1000 = per1000(0), per1000(1), per1000(2)
		f.BenchCPUPer1000 = (self1 - self0) / float64(f.Accepted) * 1000
	}
	if f.Delivered > 0 {
		f.E2E = last.Sub(res.Start)
		f.E2ERate = float64(f.Delivered) / f.E2E.Seconds()
	}
	f.Sinks = parseStats(w)
	if f.Delivered < f.Accepted {
		f.Notes = append(f.Notes, fmt.Sprintf("only %d of %d accepted messages arrived within %v", f.Delivered, f.Accepted, p.Drain))
	}
	if f.Failed > 0 {
		f.Notes = append(f.Notes, fmt.Sprintf("%d messages refused; first: %v", f.Failed, f.FirstErr))
	}
	if f.Sinks.Failed > 0 {
		f.Notes = append(f.Notes, fmt.Sprintf("%d arrivals with a malformed header (the sinks' logs say which)", f.Sinks.Failed))
	}
	if n := f.Unsigned(); n > 0 {
		f.Notes = append(f.Notes, fmt.Sprintf("%d arrivals without a DKIM-Signature", n))
	}
	return nil
}

// loadFor is the load of one run: client's kind of load against addr,
// logged in as user (none: trusted by address).
func (p *plan) loadFor(addr, user, pass, runID, client string) LoadConfig {
	lc := LoadConfig{Addr: addr, User: user, Password: pass, From: benchFrom, Domains: p.Domains,
		N: p.N, Sessions: p.Sessions, Size: p.Size, RunID: runID}
	if client == clientPlain {
		lc.Plain, lc.PerConn = true, plainPerConn
	}
	return lc
}

// smarthost is a run's load as the postfix-smarthost workload sends it:
// from the hosting server's Postfix, nil in the other workloads.
type smarthost struct {
	front *postfixInstance
}

// via starts what the load goes through to reach a relay listening on
// relayAddr that wants AUTH as user (none: trusted by address): nothing
// but the load generator, or in the postfix-smarthost workload a hosting
// server's Postfix, started under dir. stop stops what it started.
func (p *plan) via(ctx context.Context, dir, client, relayAddr, user, pass, runID string) (lc LoadConfig, sh *smarthost, stop func(), err error) {
	if client != clientPostfix {
		return p.loadFor(relayAddr, user, pass, runID, client), nil, func() {}, nil
	}
	front, err := startFront(ctx, dir, relayAddr, user, pass)
	if err != nil {
		return LoadConfig{}, nil, nil, fmt.Errorf("hosting server's postfix: %w", err)
	}
	stop = func() {
		if err := front.Stop(); err != nil {
			fmt.Fprintln(p.Log, "  ", err)
		}
	}
	// The hosting server's apps submit to it by mynetworks, pipelining.
	return p.loadFor(front.smtpAddr, "", "", runID, clientPipelining), &smarthost{front: front}, stop, nil
}

// meter is the hosting server's Postfix's CPU meter (nil without one).
func (sh *smarthost) meter() (cpuMeter, error) {
	if sh == nil {
		return nil, nil
	}
	master, err := sh.front.MasterPID()
	if err != nil {
		return nil, fmt.Errorf("hosting server's postfix master pid: %w", err)
	}
	return func() (float64, error) { return treeCPU(master) }, nil
}

// finish replaces the load generator's accept latencies, which in this
// workload are the hosting server's Postfix's, with the relay's as that
// Postfix logged them.
func (sh *smarthost) finish(f *Figures) {
	if sh == nil || f.Accepted == 0 {
		return
	}
	lat, err := relayLatencies(sh.front.LogFile(), f.Delivered, 10*time.Second)
	if err != nil {
		f.Notes = append(f.Notes, "relay accept latency: "+err.Error())
		f.P50, f.P99 = 0, 0
		return
	}
	f.P50, f.P99 = percentile(lat, 50), percentile(lat, 99)
}
