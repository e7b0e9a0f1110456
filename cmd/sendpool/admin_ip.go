package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"sendpool/internal/api"
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
	fmt.Fprintln(tw, "ADDRESS\tEHLO\tWEIGHT\tSTATUS\tSCOPE\tUNTIL\tREASON")
	for _, ip := range list {
		until := ""
		if ip.SuspendedUntil != nil {
			until = ip.SuspendedUntil.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", ip.Address, orDash(ip.EHLO), ip.Weight,
			ip.Status, orDash(ip.Scope), orDash(until), orDash(ip.Reason))
	}
	return tw.Flush()
}
