package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"sendpool/internal/queue"
)

func (c *adminCmd) queue(ctx context.Context, sub string, args []string) error {
	switch sub {
	case "ls":
		status := c.fs.String("status", "", "queued, deferred, held, delivered or bounced")
		acct := c.fs.String("account", "", "only this account's messages")
		limit := c.fs.Int("limit", 0, "at most this many (default: the server's)")
		before := c.fs.String("before", "", "only messages older than this id (paging)")
		if _, err := c.parse(args, 0); err != nil {
			return err
		}
		list, err := c.client().Messages(ctx, queue.Filter{Status: queue.Status(*status), Account: *acct, Limit: *limit, Before: *before})
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(list)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tSTATUS\tACCOUNT\tFROM\tRCPTS\tSIZE")
		for _, m := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\n", m.ID, when(m.Created), m.Status,
				orDash(m.Account), sender(m.From), m.Recipients, m.Size)
		}
		return tw.Flush()
	case "show":
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		return c.showMessage(c.client().Message(ctx, pos[0]))
	case "retry", "hold", "release":
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		cl := c.client()
		act := map[string]func(context.Context, string) (*queue.MessageDetail, error){
			"retry": cl.RetryMessage, "hold": cl.HoldMessage, "release": cl.ReleaseMessage,
		}[sub]
		m, err := act(ctx, pos[0])
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(m)
		}
		fmt.Fprintf(c.stdout, "message %s: %s\n", m.ID, m.Status)
		return nil
	case "rm":
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		if err := c.client().DeleteMessage(ctx, pos[0]); err != nil {
			return err
		}
		if !c.json {
			fmt.Fprintf(c.stdout, "message %s deleted\n", pos[0])
		}
		return nil
	case "stats":
		if _, err := c.parse(args, 0); err != nil {
			return err
		}
		counts, err := c.client().QueueStats(ctx)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(counts)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STATUS\tDELIVERIES")
		for _, st := range []queue.Status{queue.StatusQueued, queue.StatusDeferred, queue.StatusHeld, queue.StatusDelivered, queue.StatusBounced} {
			fmt.Fprintf(tw, "%s\t%d\n", st, counts[st])
		}
		return tw.Flush()
	}
	return fmt.Errorf("%w: unknown command queue %q", errUsage, sub)
}

// tlsText is an attempt's TLS on one line: "TLS 1.3 verified (mta-sts)",
// "plaintext (may)", a failed check's result type last.
func tlsText(t queue.TLS) string {
	if t.Policy == "" {
		return "-"
	}
	s := t.Version
	if s == "" {
		s = "plaintext"
	}
	if t.Verified {
		s += " verified"
	}
	s += " (" + t.Policy + ")"
	if t.Failure != "" {
		s += " " + t.Failure
	}
	return s
}

// showMessage prints a message, each recipient and every attempt.
func (c *adminCmd) showMessage(m *queue.MessageDetail, err error) error {
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(m)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\n", m.ID)
	fmt.Fprintf(tw, "account:\t%s\n", orDash(m.Account))
	fmt.Fprintf(tw, "from:\t%s\n", sender(m.From))
	fmt.Fprintf(tw, "size:\t%d\n", m.Size)
	fmt.Fprintf(tw, "created:\t%s\n", when(m.Created))
	fmt.Fprintf(tw, "expires:\t%s\n", when(m.Expires))
	fmt.Fprintf(tw, "status:\t%s\n", m.Status)
	if err := tw.Flush(); err != nil {
		return err
	}
	if m.Intake != nil {
		if err := c.showIntake(m.Intake); err != nil {
			return err
		}
	}
	for _, r := range m.Recipients {
		fmt.Fprintf(c.stdout, "\nrecipient %s: %s", r.Address, r.Status)
		if !r.NextAttempt.IsZero() && !r.Status.Final() {
			fmt.Fprintf(c.stdout, ", next attempt %s", when(r.NextAttempt))
		}
		fmt.Fprintln(c.stdout)
		if len(r.Attempts) == 0 {
			fmt.Fprintln(c.stdout, "  no attempt yet")
			continue
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  TIME\tSOURCE IP\tMX\tMX ADDRESS\tVERDICT\tDURATION\tTLS\tRESPONSE")
		for _, a := range r.Attempts {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", when(a.Time), orDash(a.SourceIP), orDash(a.MX),
				orDash(a.MXAddr), orDash(a.Verdict), a.Duration.Round(time.Millisecond), tlsText(a.TLS),
				orDash(oneLine(a.Response)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// when prints a time in the local zone, "-" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

// sender prints an envelope sender; the null sender is "<>".
func sender(from string) string {
	if from == "" {
		return "<>"
	}
	return from
}

// oneLine folds a multiline reply so it stays in its table cell.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
