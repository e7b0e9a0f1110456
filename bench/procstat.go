package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// Linux fixes it at 100 on every architecture Go supports.
const clockTicks = 100

// cpuTimes reads a process's CPU seconds from /proc/PID/stat: its own
// utime+stime and, separately, cutime+cstime (children it waited for).
func cpuTimes(pid int) (self, children float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name is in parentheses and may hold spaces: fields
	// count from after the last ')'. proc(5): utime is field 14.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	var t [4]float64
	for k := range t {
		v, err := strconv.ParseInt(f[11+k], 10, 64) // fields 14..17
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		t[k] = float64(v) / clockTicks
	}
	return t[0] + t[1], t[2] + t[3], nil
}

// statusKB reads one "Key:   N kB" line of /proc/PID/status (VmHWM, VmRSS).
func statusKB(pid int, key string) (int64, error) {
	return kbField(fmt.Sprintf("/proc/%d/status", pid), key)
}

// kbField reads one "Key:   N kB" line of a /proc file.
func kbField(path, key string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			break
		}
		return strconv.ParseInt(fs[0], 10, 64)
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}

// children lists the processes whose parent is pid: from
// /proc/PID/task/PID/children (cheap; the process's main thread's
// children, which is all of them for Postfix's single-threaded master),
// else by reading every process's parent.
func children(pid int) []int {
	var out []int
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
		return out
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, err := kbField(filepath.Join("/proc", e.Name(), "status"), "PPid")
		if err == nil && int(ppid) == pid {
			out = append(out, child)
		}
	}
	return out
}

// treeCPU is the CPU seconds a process tree has used: the root's own
// (utime+stime), its exited children's (cutime+cstime), plus every live
// child's own. Postfix is measured this way: its master and the daemons it
// starts (smtpd, cleanup, qmgr, smtp, trivial-rewrite, tlsmgr, anvil,
// postlogd, …) come and go during a run. A daemon that exits is reaped by
// master (waitpid on SIGCHLD), and the kernel then adds its times to
// master's cutime/cstime: exited children are counted there, with none
// missed however short they lived, and live ones from their own stat. A
// run's figure is the difference of two readings, one before the load and
// one after the arrivals, so the time daemons spent before the run
// cancels out, whether they still live at the end or were reaped
// meanwhile. The one blur: a child reaped between the reading of master's
// stat and that of its own, at one of those two instants, is missed, its
// lifetime's CPU at most (milliseconds: the readings are made before the
// load and after the drain, when Postfix is idle). Postfix's daemons
// start no processes of their own here (no local or pipe delivery).
func treeCPU(root int) (float64, error) {
	self, reaped, err := cpuTimes(root)
	if err != nil {
		return 0, err
	}
	total := self + reaped
	for _, c := range children(root) {
		if s, _, err := cpuTimes(c); err == nil {
			total += s
		}
	}
	return total, nil
}

// treePSS is the proportional set size of a process tree in kB (shared
// pages divided among the processes that share them, so that the sum
// over Postfix's many daemons is not inflated by shared libraries).
func treePSS(root int) int64 {
	total := int64(0)
	for _, p := range append([]int{root}, children(root)...) {
		if kb, err := kbField(fmt.Sprintf("/proc/%d/smaps_rollup", p), "Pss"); err == nil {
			total += kb
		}
	}
	return total
}

// peakSampler samples a figure every interval and keeps its maximum.
type peakSampler struct {
	mu   sync.Mutex
	peak int64
	stop func()
	done chan struct{}
}

func samplePeak(ctx context.Context, every time.Duration, f func() int64) *peakSampler {
	ctx, cancel := context.WithCancel(ctx)
	p := &peakSampler{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			v := f()
			p.mu.Lock()
			p.peak = max(p.peak, v)
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// Stop ends the sampling and returns the peak.
func (p *peakSampler) Stop() int64 {
	p.stop()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}
