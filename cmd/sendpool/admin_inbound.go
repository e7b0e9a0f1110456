package main

import (
	"context"
	"fmt"
	"text/tabwriter"
)

// inbound runs sendpool inbound bans|unban|decisions|recipients: the MX's
// state, through the API (SPEC §7).
func (c *adminCmd) inbound(ctx context.Context, sub string, args []string) error {
	switch sub {
	case "bans":
		if _, err := c.parse(args, 0); err != nil {
			return err
		}
		bans, err := c.client().InboundBans(ctx)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(bans)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "IP\tSINCE\tUNTIL\tREASON")
		for _, b := range bans {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.IP, when(b.Since), when(b.Until), b.Reason)
		}
		return tw.Flush()
	case "unban":
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		if err := c.client().Unban(ctx, pos[0]); err != nil {
			return err
		}
		if !c.json {
			fmt.Fprintf(c.stdout, "%s unbanned\n", pos[0])
		}
		return nil
	case "decisions":
		limit := c.fs.Int("limit", 50, "how many, newest first (0: all kept)")
		if _, err := c.parse(args, 0); err != nil {
			return err
		}
		ds, err := c.client().InboundDecisions(ctx, *limit)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(ds)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tCLIENT\tACTION\tCHECK\tCODE\tFROM\tRCPT\tDETAIL")
		for _, d := range ds {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", when(d.Time), d.ClientIP, d.Action, orDash(d.Check),
				d.Code, orDash(d.From), orDash(d.Rcpt), orDash(d.Detail))
		}
		return tw.Flush()
	case "recipients":
		// recipients ACCOUNT [add|rm ADDRESS]
		pos, err := c.parseSome(args, 1, 3)
		if err != nil {
			return err
		}
		cl := c.client()
		switch {
		case len(pos) == 1:
			list, err := cl.Recipients(ctx, pos[0])
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(list)
			}
			for _, r := range list {
				fmt.Fprintln(c.stdout, r.Address)
			}
			return nil
		case len(pos) == 3 && pos[1] == "add":
			return cl.AddRecipient(ctx, pos[0], pos[2])
		case len(pos) == 3 && pos[1] == "rm":
			return cl.RemoveRecipient(ctx, pos[0], pos[2])
		}
		return fmt.Errorf("%w: inbound recipients ACCOUNT [add|rm ADDRESS]", errUsage)
	}
	return fmt.Errorf("%w: unknown command inbound %q", errUsage, sub)
}
