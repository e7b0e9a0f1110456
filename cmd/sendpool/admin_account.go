package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"sendpool/internal/account"
	"sendpool/internal/api"
)

// accountFlags are the flags of account add and set.
type accountFlags struct {
	password, passwordFile     string
	domains, networks, foreign string
	inboundHost                string
	forwarding                 bool
	perMinute, perHour, perDay int
	rcptPerHour, senderPerHour int
	status, reason             string
}

func (c *adminCmd) accountFlags(withStatus bool) *accountFlags {
	f := &accountFlags{}
	c.fs.StringVar(&f.password, "password", "", "password for SMTP AUTH (visible in ps: prefer -password-file)")
	c.fs.StringVar(&f.passwordFile, "password-file", "", "read the password from the first line of this file (- for stdin)")
	c.fs.StringVar(&f.foreign, "foreign-from", "", "domains not the account's that its From: may name, comma-separated")
	c.fs.StringVar(&f.domains, "domains", "", "sender domains, comma-separated")
	c.fs.StringVar(&f.inboundHost, "inbound-host", "", "where the MX sends mail for the account's domains: host[:port] (\"\" removes it)")
	c.fs.BoolVar(&f.forwarding, "forwarding", false, "the account forwards mail: foreign envelope senders get an SRS address")
	c.fs.StringVar(&f.networks, "networks", "", "trusted networks (CIDR), comma-separated")
	c.fs.IntVar(&f.perMinute, "per-minute", 0, "messages per minute (0: no limit)")
	c.fs.IntVar(&f.perHour, "per-hour", 0, "messages per hour (0: no limit)")
	c.fs.IntVar(&f.perDay, "per-day", 0, "messages per day (0: no limit)")
	c.fs.IntVar(&f.rcptPerHour, "rcpt-per-hour", 0, "recipients per hour (0: no limit)")
	c.fs.IntVar(&f.senderPerHour, "sender-per-hour", 0, "messages per hour from one sender address (0: no limit)")
	if withStatus {
		c.fs.StringVar(&f.status, "status", "", "active or suspended")
		c.fs.StringVar(&f.reason, "reason", "", "why (shown with the status)")
	}
	return f
}

// readPassword sets f.password from -password-file when it was given: the
// first line of the file, or of stdin for "-". A password on the command
// line is visible to every user of the machine (ps).
func (c *adminCmd) readPassword(f *accountFlags) error {
	if !c.set("password-file") {
		return nil
	}
	if c.set("password") {
		return fmt.Errorf("%w: give -password or -password-file, not both", errUsage)
	}
	var r io.Reader = c.stdin
	if f.passwordFile != "-" {
		file, err := os.Open(f.passwordFile)
		if err != nil {
			return err
		}
		defer file.Close()
		r = file
	}
	line, err := bufio.NewReader(io.LimitReader(r, account.MaxPasswordLen*4+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the password: %w", err)
	}
	if f.password = strings.TrimRight(line, "\r\n"); f.password == "" {
		return fmt.Errorf("no password in %s", f.passwordFile)
	}
	return nil
}

// patch returns the changes the flags given on the command line ask for.
func (c *adminCmd) patch(f *accountFlags) api.AccountPatch {
	var p api.AccountPatch
	var l api.LimitsPatch
	if c.set("password") || c.set("password-file") {
		p.Password = &f.password
	}
	if c.set("foreign-from") {
		d := splitList(f.foreign)
		p.ForeignFrom = &d
	}
	if c.set("domains") {
		d := splitList(f.domains)
		p.Domains = &d
	}
	if c.set("inbound-host") {
		p.InboundHost = &f.inboundHost
	}
	if c.set("forwarding") {
		p.Forwarding = &f.forwarding
	}
	if c.set("networks") {
		n := splitList(f.networks)
		p.Networks = &n
	}
	if c.set("per-minute") {
		l.PerMinute = &f.perMinute
	}
	if c.set("per-hour") {
		l.PerHour = &f.perHour
	}
	if c.set("per-day") {
		l.PerDay = &f.perDay
	}
	if c.set("rcpt-per-hour") {
		l.RcptPerHour = &f.rcptPerHour
	}
	if c.set("sender-per-hour") {
		l.SenderPerHour = &f.senderPerHour
	}
	if l != (api.LimitsPatch{}) {
		p.Limits = &l
	}
	if c.set("status") {
		s := account.Status(f.status)
		p.Status = &s
	}
	if c.set("reason") {
		p.Reason = &f.reason
	}
	return p
}

func (c *adminCmd) account(ctx context.Context, sub string, args []string) error {
	switch sub {
	case "add":
		f := c.accountFlags(false)
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		if err := c.readPassword(f); err != nil {
			return err
		}
		a, err := c.client().CreateAccount(ctx, api.AccountRequest{
			Name:        pos[0],
			Password:    f.password,
			Domains:     splitList(f.domains),
			Networks:    splitList(f.networks),
			ForeignFrom: splitList(f.foreign),
			InboundHost: f.inboundHost,
			Forwarding:  f.forwarding,
			Limits: account.Limits{PerMinute: f.perMinute, PerHour: f.perHour, PerDay: f.perDay,
				RcptPerHour: f.rcptPerHour, SenderPerHour: f.senderPerHour},
		})
		return c.showAccount(a, err)
	case "ls":
		if _, err := c.parse(args, 0); err != nil {
			return err
		}
		list, err := c.client().Accounts(ctx)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(list)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATUS\tDOMAINS\tNETWORKS\tLIMITS (min/hour/day)")
		for _, a := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, a.Status,
				orDash(strings.Join(a.Domains, ",")), orDash(networks(a)), limits(a.Limits))
		}
		return tw.Flush()
	case "show":
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		return c.showAccount(c.client().Account(ctx, pos[0]))
	case "set":
		f := c.accountFlags(true)
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		if err := c.readPassword(f); err != nil {
			return err
		}
		p := c.patch(f)
		if p == (api.AccountPatch{}) {
			return fmt.Errorf("%w: account set: nothing to change", errUsage)
		}
		return c.showAccount(c.client().UpdateAccount(ctx, pos[0], p))
	case "suspend":
		reason := c.fs.String("reason", "", "why")
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		st := account.StatusSuspended
		return c.showAccount(c.client().UpdateAccount(ctx, pos[0], api.AccountPatch{Status: &st, Reason: reason}))
	case "release":
		// A held account (or a suspended one) becomes active; its held
		// mail goes out.
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		return c.showAccount(c.client().ReleaseAccount(ctx, pos[0]))
	case "resume":
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		st := account.StatusActive
		return c.showAccount(c.client().UpdateAccount(ctx, pos[0], api.AccountPatch{Status: &st}))
	case "suppressions", "suppress", "unsuppress":
		return c.suppression(ctx, sub, args) // admin_suppress.go
	case "rm":
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		if err := c.client().DeleteAccount(ctx, pos[0]); err != nil {
			return err
		}
		if !c.json {
			fmt.Fprintf(c.stdout, "account %s deleted\n", pos[0])
		}
		return nil
	}
	return fmt.Errorf("%w: unknown command account %q", errUsage, sub)
}

// showAccount prints an account the API returned, or passes its error on.
func (c *adminCmd) showAccount(a *account.Account, err error) error {
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(a)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "name:\t%s\n", a.Name)
	status := string(a.Status)
	if a.Reason != "" {
		status += " (" + a.Reason + ")"
	}
	fmt.Fprintf(tw, "status:\t%s\n", status)
	fmt.Fprintf(tw, "domains:\t%s\n", orDash(strings.Join(a.Domains, ", ")))
	fmt.Fprintf(tw, "networks:\t%s\n", orDash(networks(a)))
	if a.InboundHost != "" {
		fmt.Fprintf(tw, "inbound host:\t%s\n", a.InboundHost)
	}
	if a.Forwarding {
		fmt.Fprintf(tw, "forwarding:\tyes (SRS)\n")
	}
	if len(a.ForeignFrom) > 0 {
		fmt.Fprintf(tw, "foreign from:\t%s\n", strings.Join(a.ForeignFrom, ", "))
	}
	fmt.Fprintf(tw, "limits:\t%s (per minute/hour/day)\n", limits(a.Limits))
	if !a.Created.IsZero() {
		fmt.Fprintf(tw, "created:\t%s\n", a.Created.Format("2006-01-02 15:04:05Z07:00"))
	}
	return tw.Flush()
}

func networks(a *account.Account) string {
	s := make([]string, len(a.Networks))
	for i, p := range a.Networks {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// limits prints per-minute/hour/day limits, "-" for none.
func limits(l account.Limits) string {
	f := func(n int) string {
		if n == 0 {
			return "-"
		}
		return fmt.Sprint(n)
	}
	return f(l.PerMinute) + "/" + f(l.PerHour) + "/" + f(l.PerDay)
}
