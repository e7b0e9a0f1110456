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

// printTable writes one row per run, then, with base, the ratio of each
// other run to it.
func printTable(w io.Writer, runs []*Figures, base *Figures) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\trun\taccepted\tdelivered\taccept msg/s\tend-to-end msg/s\tp50 ms\tp99 ms\tpeak RSS MB\t"+
		"CPU s/1000 msg\tOpenDKIM\thosting Postfix\t(bench's own)\tsinks: malformed\tunsigned\t")
	for _, f := range runs {
		if f.Err != nil {
			fmt.Fprintf(tw, "%s\t%s\tfailed\t\t\t\t\t\t\t\t\t\t\t\t\t\n", f.Work, f.Name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%.0f\t%s\t%s\t%.1f\t%.2f\t%s\t%s\t(%.2f)\t%d\t%s\t\n", f.Work, f.Name, f.Accepted, f.Delivered,
			f.AcceptRate, f.E2ERate, ms(f.P50), ms(f.P99), float64(f.PeakRSSKB)/1024, f.CPUPer1000,
			orDash(f.DKIM == "opendkim", f.MilterCPUPer1000), orDash(f.Work.Client == clientPostfix, f.FrontCPUPer1000),
			f.BenchCPUPer1000, f.Sinks.Failed, unsigned(f))
	}
	if base != nil {
		for _, f := range runs {
			if f == base || f.Err != nil {
				continue
			}
			fmt.Fprintf(tw, "\t%s / %s\t\t\t%s\t%s\t%s\t%s\t%s\t%s\t\t\t\t\t\t\n", f.Name, base.Name,
				ratio(f.AcceptRate, base.AcceptRate), ratio(f.E2ERate, base.E2ERate),
				ratio(float64(f.P50), float64(base.P50)), ratio(float64(f.P99), float64(base.P99)),
				ratio(float64(f.PeakRSSKB), float64(base.PeakRSSKB)), ratio(f.CPUPer1000, base.CPUPer1000))
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "  accept: accepted / (first MAIL FROM → last 250); end-to-end: arrived at the sinks / (first MAIL FROM → last arrival);")
	fmt.Fprintln(w, "  latency: MAIL FROM, RCPT TO, DATA and the data, to the 250; CPU: per 1,000 accepted, the server's own (sendpool, or")
	fmt.Fprintln(w, "  Postfix's master and every child that ran), OpenDKIM's and the hosting server's Postfix's apart;")
	fmt.Fprintln(w, "  sinks: arrivals whose header did not parse or lacked From or Date, and those without a DKIM-Signature in a run that signs")
	for _, f := range runs {
		if f.Err != nil {
			fmt.Fprintf(w, "  %s, %s: failed: %v\n", f.Work, f.Name, f.Err)
		}
		for _, n := range f.Notes {
			fmt.Fprintf(w, "  %s, %s: %s\n", f.Work, f.Name, n)
		}
	}
}

// orDash is v with two decimals, or "-" when it does not apply.
func orDash(applies bool, v float64) string {
	if !applies {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// unsigned is f's count of arrivals missing their signature, "-" when the
// run does not sign.
func unsigned(f *Figures) string {
	if !f.Signs {
		return "-"
	}
	return fmt.Sprint(f.Unsigned())
}

// baselineOf is the Postfix run sendpool's run f is compared with: the
// same workload, with OpenDKIM when f signs, without when it does not.
func baselineOf(f *Figures, runs []*Figures) *Figures {
	want := "off"
	if f.Signs {
		want = "opendkim"
	}
	for _, b := range runs {
		if b.Side == sidePostfix && b.Work == f.Work && b.DKIM == want && b.Err == nil {
			return b
		}
	}
	return nil
}

// printComparison writes, per workload and sendpool run, both sides'
// figures and their ratios: sendpool against Postfix without DKIM, or
// against Postfix with OpenDKIM when sendpool signs.
func printComparison(w io.Writer, runs []*Figures) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tsendpool run\tbaseline\tsendpool msg/s\tbaseline msg/s\tratio\t"+
		"sendpool p50/p99 ms\tbaseline p50/p99 ms\tsendpool MB\tbaseline MB\tsendpool CPU s/1000\tbaseline CPU s/1000\tbaseline÷sendpool CPU\t")
	for _, f := range runs {
		if f.Side != sideSendpool || f.Err != nil {
			continue
		}
		b := baselineOf(f, runs)
		if b == nil {
			fmt.Fprintf(tw, "%s\t%s\t(no baseline run)\t%.0f\t\t\t%s/%s\t\t%.1f\t\t%.2f\t\t\t\n", f.Work, f.Name,
				f.E2ERate, ms(f.P50), ms(f.P99), float64(f.PeakRSSKB)/1024, f.ServerCPUPer1000())
			continue
		}
		baseCPU := fmt.Sprintf("%.2f", b.ServerCPUPer1000())
		if b.DKIM == "opendkim" {
			baseCPU += fmt.Sprintf(" (%.2f+%.2f)", b.CPUPer1000, b.MilterCPUPer1000)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%.0f\t%s\t%s/%s\t%s/%s\t%.1f\t%.1f\t%.2f\t%s\t%s\t\n", f.Work, f.Name, b.Name,
			f.E2ERate, b.E2ERate, ratio(f.E2ERate, b.E2ERate), ms(f.P50), ms(f.P99), ms(b.P50), ms(b.P99),
			float64(f.PeakRSSKB)/1024, float64(b.PeakRSSKB)/1024, f.ServerCPUPer1000(), baseCPU,
			ratio(b.ServerCPUPer1000(), f.ServerCPUPer1000()))
	}
	tw.Flush()
	fmt.Fprintln(w, "  msg/s: end-to-end; ratio: sendpool's over the baseline's; MB: peak RSS (sendpool) or summed PSS (Postfix and OpenDKIM);")
	fmt.Fprintln(w, "  CPU: s per 1,000 messages, the baseline's being Postfix's (+ OpenDKIM's); the hosting server's Postfix counts on neither side")
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
