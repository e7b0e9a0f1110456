package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"sendpool/internal/api"
)

// suppression runs account suppressions, suppress and unsuppress: an
// account's suppression list, through the API.
func (c *adminCmd) suppression(ctx context.Context, sub string, args []string) error {
	switch sub {
	case "suppressions":
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		list, err := c.client().Suppressions(ctx, pos[0])
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(list)
		}
		return c.suppressionTable(list...)
	case "suppress":
		reason := c.fs.String("reason", "", "why (default: added by an admin)")
		d := c.fs.Duration("for", 0, "how long (0: until removed)")
		pos, err := c.parse(args, 2)
		if err != nil {
			return err
		}
		req := api.SuppressionRequest{Address: pos[1], Reason: *reason}
		if *d < 0 {
			return fmt.Errorf("%w: -for must not be negative", errUsage)
		}
		if *d > 0 {
			req.Duration = d.String()
		}
		s, err := c.client().Suppress(ctx, pos[0], req)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(s)
		}
		return c.suppressionTable(*s)
	case "unsuppress":
		pos, err := c.parse(args, 2)
		if err != nil {
			return err
		}
		if err := c.client().Unsuppress(ctx, pos[0], pos[1]); err != nil {
			return err
		}
		if !c.json {
			fmt.Fprintf(c.stdout, "%s removed from account %s's suppression list\n", pos[1], pos[0])
		}
		return nil
	}
	return fmt.Errorf("%w: unknown command account %q", errUsage, sub)
}

func (c *adminCmd) suppressionTable(list ...api.Suppression) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tSINCE\tEXPIRES\tREASON\tREPLY")
	for _, s := range list {
		expires := "never"
		if s.Expires != nil {
			expires = s.Expires.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Address, when(s.Created), expires, orDash(s.Reason), orDash(s.Reply))
	}
	return tw.Flush()
}
