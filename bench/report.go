package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// dkimAlgorithms lists the a= tags of a message's DKIM-Signature fields
// (RFC 6376 §3.5), in order.
func dkimAlgorithms(msg []byte) []string {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	// Unfold (RFC 5322 §2.2.3) so each field is one line.
	unfolded := strings.NewReplacer("\r\n ", " ", "\r\n\t", " ").Replace(string(head))
	var out []string
	for _, line := range strings.Split(unfolded, "\r\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "DKIM-Signature") {
			continue
		}
		for _, tag := range strings.Split(value, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(tag), "=")
			if strings.TrimSpace(k) == "a" {
				out = append(out, strings.Join(strings.Fields(v), ""))
			}
		}
	}
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// printTable writes the runs side by side, then the ratio of the first
// sendpool run to Postfix when both ran.
func printTable(w io.Writer, runs []*Figures, base *Figures) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\taccepted\tdelivered\taccept msg/s\tend-to-end msg/s\tp50 ms\tp99 ms\tpeak RSS MB\tCPU s/1000 msg\t(bench's own)\t")
	for _, f := range runs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.0f\t%s\t%s\t%.1f\t%.2f\t(%.2f)\t\n", f.Name, f.Accepted, f.Delivered,
			f.AcceptRate, f.E2ERate, ms(f.P50), ms(f.P99), float64(f.PeakRSSKB)/1024, f.CPUPer1000, f.BenchCPUPer1000)
	}
	if base != nil {
		for _, f := range runs {
			if f == base {
				continue
			}
			fmt.Fprintf(tw, "%s / %s\t\t\t%s\t%s\t%s\t%s\t%s\t%s\t\n", f.Name, base.Name,
				ratio(f.AcceptRate, base.AcceptRate), ratio(f.E2ERate, base.E2ERate),
				ratio(float64(f.P50), float64(base.P50)), ratio(float64(f.P99), float64(base.P99)),
				ratio(float64(f.PeakRSSKB), float64(base.PeakRSSKB)), ratio(f.CPUPer1000, base.CPUPer1000))
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "  accept: accepted / (first MAIL FROM → last 250); end-to-end: arrived at the sinks / (first MAIL FROM → last arrival);")
	fmt.Fprintln(w, "  latency: MAIL FROM, RCPT TO, DATA (pipelined) and the data, to the 250; CPU: the server's own, per 1,000 accepted")
	for _, f := range runs {
		for _, n := range f.Notes {
			fmt.Fprintf(w, "  %s: %s\n", f.Name, n)
		}
	}
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// check prints one target line: the figure, the goal, met or not.
func check(w io.Writer, what string, met bool, detail string) {
	mark := "NOT MET"
	if met {
		mark = "met"
	}
	fmt.Fprintf(w, "  [%s] %s: %s\n", mark, what, detail)
}
