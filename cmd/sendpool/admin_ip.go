package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/history"
)

func (c *adminCmd) ip(ctx context.Context, sub string, args []string) error {
	switch sub {
	case "ls":
		if _, err := c.parse(args, 0); err != nil {
			return err
		}
		list, err := c.client().IPs(ctx)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(list)
		}
		return c.ipTable(list...)
	case "suspend":
		d := c.fs.Duration("for", 0, "how long (default: the server's pool.suspend_for)")
		reason := c.fs.String("reason", "", "why")
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		if *d < 0 {
			return fmt.Errorf("%w: -for must be positive", errUsage)
		}
		return c.showIP(c.client().SuspendIP(ctx, pos[0], *d, *reason))
	case "resume":
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		return c.showIP(c.client().ResumeIP(ctx, pos[0]))
	case "show":
		limit := c.fs.Int("limit", 0, "how many recent replies (default: all kept, 50)")
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		return c.ipShow(ctx, pos[0], *limit)
	}
	return fmt.Errorf("%w: unknown command ip %q", errUsage, sub)
}

func (c *adminCmd) showIP(ip *api.IPStatus, err error) error {
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(ip)
	}
	return c.ipTable(*ip)
}

func (c *adminCmd) ipTable(list ...api.IPStatus) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tEHLO\tWEIGHT\tSTATUS\tSCOPE\tUNTIL\tWARMUP\tPACE\tREASON")
	for _, ip := range list {
		until := ""
		if ip.SuspendedUntil != nil {
			until = ip.SuspendedUntil.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ip.Address, orDash(ip.EHLO), ip.Weight,
			ip.Status, orDash(ip.Scope), orDash(until), orDash(warmupCell(ip.Warmup)), orDash(paceCell(ip.Paces)),
			orDash(ip.Reason))
	}
	return tw.Flush()
}

// ipShow prints addr's status and its recent replies, newest first.
func (c *adminCmd) ipShow(ctx context.Context, addr string, limit int) error {
	ips, err := c.client().IPs(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ips, func(ip api.IPStatus) bool { return ip.Address == addr })
	if i < 0 {
		return fmt.Errorf("no such IP in the pool: %s", addr)
	}
	replies, err := c.client().IPReplies(ctx, addr, limit)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(struct {
			IP      api.IPStatus    `json:"ip"`
			Replies []history.Reply `json:"replies"`
		}{ips[i], replies})
	}
	if err := c.ipTable(ips[i]); err != nil {
		return err
	}
	for _, p := range ips[i].Paces {
		fmt.Fprintf(c.stdout, "\npaced for %s since %s: %d messages per %s over %d connections; last complaint %s:\n  %s\n",
			p.Provider, p.Since.Local().Format(time.DateTime), p.Rate, p.Window, p.Conns, p.Last.Local().Format(time.DateTime), p.Reply)
	}
	fmt.Fprintf(c.stdout, "\nrecent replies (%d, newest first):\n", len(replies))
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tDOMAIN\tMX\tVERDICT\tCATEGORY\tRCPTS\tRESPONSE")
	for _, r := range replies {
		mx := r.MX
		if r.MXAddr != "" {
			mx += " (" + r.MXAddr + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Time.Local().Format(time.DateTime), orDash(r.Domain),
			orDash(mx), orDash(r.Verdict), orDash(r.Category), r.Rcpts, r.Response)
	}
	return tw.Flush()
}

// warmupCell is an IP's warm-up in one cell: "day 3/21 gmail 12/200
// outlook 0/200 …", used/cap per provider over the last 24 hours; "" when
// the IP is warm.
func warmupCell(w *api.IPWarmup) string {
	if w == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "day %d/%d", w.Day, w.Days)
	for _, p := range w.Providers {
		fmt.Fprintf(&b, " %s %d/%d", p.Provider, p.Used, p.Cap)
		if p.Stalled {
			b.WriteString(" (standing still)")
		}
	}
	return b.String()
}

// paceCell is an IP's paces in one cell: "gmail 12/1m0s×2 …", messages per
// window and connections for each provider that asked it to slow down.
func paceCell(ps []api.IPPace) string {
	var cells []string
	for _, p := range ps {
		cells = append(cells, fmt.Sprintf("%s %d/%s×%d", p.Provider, p.Rate, p.Window, p.Conns))
	}
	return strings.Join(cells, " ")
}
