package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"sendpool/internal/queue"
)

// showIntake prints intake's verdict on a message (queue show): how it
// came, from whom, the scanners' answers, every rule with its score and the
// DKIM signatures added.
func (c *adminCmd) showIntake(in *queue.Intake) error {
	fmt.Fprintln(c.stdout, "\nintake:")
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	proto := in.Protocol
	if in.With != "" {
		proto += " (" + in.With + ")"
	}
	fmt.Fprintf(tw, "  protocol:\t%s\n", proto)
	fmt.Fprintf(tw, "  client ip:\t%s\n", orDash(in.ClientIP))
	auth := orDash(in.Account)
	if in.Auth != "" {
		auth += " by " + in.Auth
	}
	fmt.Fprintf(tw, "  account:\t%s\n", auth)
	fmt.Fprintf(tw, "  tls:\t%s\n", yesNo(in.TLS))
	fmt.Fprintf(tw, "  spam score:\t%s\n", scoreText(in.Score))
	var scans []string
	for _, s := range in.Scanners {
		v := s.Scanner + " " + s.Result
		if s.Detail != "" {
			v += " (" + oneLine(s.Detail) + ")"
		}
		scans = append(scans, v)
	}
	fmt.Fprintf(tw, "  scanners:\t%s\n", orDash(strings.Join(scans, ", ")))
	var sigs []string
	for _, s := range in.DKIM {
		sigs = append(sigs, fmt.Sprintf("d=%s s=%s a=%s", s.Domain, s.Selector, s.Algorithm))
	}
	fmt.Fprintf(tw, "  dkim:\t%s\n", orDash(strings.Join(sigs, "; ")))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(in.Rules) == 0 {
		fmt.Fprintln(c.stdout, "  no rule fired")
		return nil
	}
	tw = tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  SCANNER\tRULE\tSCORE\tDETAIL")
	for _, r := range in.Rules {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r.Scanner, r.Rule, scoreText(r.Score), orDash(oneLine(r.Detail)))
	}
	return tw.Flush()
}

// scoreText prints a spam score to two decimals, without trailing zeros
// (a sum of scores may carry float noise).
func scoreText(f float64) string { return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
