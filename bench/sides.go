package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"sendpool/internal/sandbox"
)

// runSendpool measures the real binary under wl's load, signing as run
// says.
func (p *plan) runSendpool(ctx context.Context, wl workload, run dkimRun) (*Figures, error) {
	dir, done, err := p.runDir("sendpool-")
	if err != nil {
		return nil, err
	}
	defer done()
	w, err := p.newWorld(dir)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	o := sendpoolOptions{Bin: p.Bin, Dir: dir, World: w, Pprof: p.ProfileDir != "", Extra: run.config()}
	if wl.Client == clientPostfix {
		cert, err := makeRelayCert(dir)
		if err != nil {
			return nil, err
		}
		o.Cert = &cert
	}
	proc, err := startSendpool(ctx, o)
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
	lc, sh, stopFront, err := p.via(ctx, dir, wl.Client, proc.smtpAddr, benchAccount, benchPassword, "sp")
	if err != nil {
		return nil, err
	}
	defer stopFront()
	front, err := sh.meter()
	if err != nil {
		return nil, err
	}
	if p.ProfileDir != "" {
		stop := p.profile(ctx, proc, wl.String()+" "+run.Name)
		defer stop()
	}
	f := &Figures{Name: run.Name, Side: sideSendpool, Work: wl, DKIM: run.Key, Signs: run.Algorithms != nil}
	err = p.measure(ctx, f, lc, w, meters{
		server: func() (float64, error) {
			s, _, err := cpuTimes(proc.pid())
			return s, err
		},
		front: front,
	})
	if err != nil {
		return nil, err
	}
	sh.finish(f)
	if f.PeakRSSKB, err = statusKB(proc.pid(), "VmHWM"); err != nil {
		return nil, err
	}
	f.Signatures = signaturesSeen(w)
	f.Notes = append([]string{note + "; " + describeSignatures(f.Signatures)}, f.Notes...)
	return f, nil
}

// runPostfix measures a private Postfix instance relaying to the sinks
// under wl's load, with OpenDKIM signing when dkim says.
func (p *plan) runPostfix(ctx context.Context, wl workload, dkim bool) (*Figures, error) {
	dir, done, err := p.runDir("postfix-")
	if err != nil {
		return nil, err
	}
	defer done()
	w, err := p.newWorld(dir)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	version, err := postfixVersion(ctx)
	if err != nil {
		return nil, err
	}
	f := &Figures{Name: "postfix " + version, Side: sidePostfix, Work: wl, DKIM: "off"}
	note := "no DKIM"
	o := postfixOptions{Name: "relay", World: w, Domains: p.Domains}
	var milter *openDKIM
	if dkim {
		if milter, err = startOpenDKIM(ctx, filepath.Join(dir, "opendkim"), w); err != nil {
			return nil, err
		}
		defer milter.stop()
		o.Milter = milter.milter()
		f.Name += " + OpenDKIM " + openDKIMVersion(ctx)
		f.DKIM, f.Signs = "opendkim", true
		note = "OpenDKIM signing (milter on " + milter.addr + "), RSA-2048, relaxed/relaxed, its CPU and memory counted with Postfix's"
	}
	if wl.Client == clientPostfix {
		cert, err := makeRelayCert(dir)
		if err != nil {
			return nil, err
		}
		o.Cert, o.SASLUser, o.SASLPassword = &cert, benchAccount, benchPassword
	}
	pf, err := startPostfix(ctx, filepath.Join(dir, "relay"), o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := pf.Stop(); err != nil {
			fmt.Fprintln(p.Log, "  ", err)
		}
	}()
	master, err := pf.MasterPID()
	if err != nil {
		return nil, fmt.Errorf("postfix master pid: %w", err)
	}
	user, pass := "", "" // trusted by mynetworks
	if o.SASLUser != "" {
		user, pass = o.SASLUser, o.SASLPassword
	}
	lc, sh, stopFront, err := p.via(ctx, dir, wl.Client, pf.smtpAddr, user, pass, "pf")
	if err != nil {
		return nil, err
	}
	defer stopFront()
	front, err := sh.meter()
	if err != nil {
		return nil, err
	}
	m := meters{server: func() (float64, error) { return treeCPU(master) }, front: front}
	if milter != nil {
		m.milter = milter.cpu
	}
	// Postfix is many processes that come and go: sample their summed
	// PSS (and OpenDKIM's) rather than one process's high-water mark. Not
	// more often: the reading costs the bench CPU that Postfix would
	// otherwise have.
	rss := samplePeak(ctx, pssEvery, func() int64 {
		kb := treePSS(master)
		if milter != nil {
			kb += milter.pss()
		}
		return kb
	})
	err = p.measure(ctx, f, lc, w, m)
	peak := rss.Stop()
	if err != nil {
		return nil, err
	}
	sh.finish(f)
	f.PeakRSSKB = peak
	f.Signatures = signaturesSeen(w)
	f.Notes = append([]string{note + "; peak memory is the summed PSS of its processes, sampled every " + pssEvery.String()}, f.Notes...)
	return f, nil
}

// openDKIMVersion is the installed OpenDKIM's version, "" if unknown.
func openDKIMVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "opendkim", "-V").Output()
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimPrefix(first[strings.LastIndexByte(first, ' ')+1:], "v")
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
