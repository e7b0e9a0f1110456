package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/dnsrec"
)

// errNotOK makes `domain check` exit 1 when a record is not ok, after
// printing the report: scripts can test it.
var errNotOK = errors.New("records not all ok")

func (c *adminCmd) domain(ctx context.Context, sub string, args []string) error {
	switch sub {
	case "add":
		acct := c.fs.String("account", "", "the account that sends from the domain (required)")
		zone := c.fs.Bool("zone", false, "print the records in zone-file form")
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		if *acct == "" {
			return fmt.Errorf("%w: domain add needs -account NAME", errUsage)
		}
		d, err := c.client().AddDomain(ctx, pos[0], *acct)
		return c.showRecords(d, err, *zone)
	case "ls":
		acct := c.fs.String("account", "", "only this account's domains")
		if _, err := c.parse(args, 0); err != nil {
			return err
		}
		list, err := c.client().Domains(ctx, *acct)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(list)
		}
		return c.domainTable(list)
	case "records", "show":
		zone := c.fs.Bool("zone", false, "print the records in zone-file form")
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		d, err := c.client().Domain(ctx, pos[0])
		return c.showRecords(d, err, *zone)
	case "rotate-dkim":
		zone := c.fs.Bool("zone", false, "print the records in zone-file form")
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		d, err := c.client().RotateDKIM(ctx, pos[0])
		return c.showRecords(d, err, *zone)
	case "check":
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		r, err := c.client().CheckDomain(ctx, pos[0])
		if err != nil {
			return err
		}
		if c.json {
			err = c.printJSON(r)
		} else {
			err = printReport(c.stdout, r)
		}
		if err == nil && !r.OK {
			err = errNotOK
		}
		return err
	case "rm":
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		return c.client().DeleteDomain(ctx, pos[0])
	}
	return fmt.Errorf("%w: unknown command domain %q", errUsage, sub)
}

// showRecords prints the answer of a call returning a domain: its records
// (only them, in zone-file form, with zone) and its keys.
func (c *adminCmd) showRecords(d *api.DomainInfo, err error, zone bool) error {
	if err != nil {
		return err
	}
	switch {
	case c.json:
		return c.printJSON(d)
	case zone:
		_, err := io.WriteString(c.stdout, dnsrec.Zone(d.Records))
		return err
	}
	fmt.Fprintf(c.stdout, "%s (account %s): publish these records\n\n", d.Domain, d.Account)
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PURPOSE\tTYPE\tNAME\tPUBLISHED\tVALUE")
	for _, r := range d.Records {
		pub := "-"
		if r.Published {
			pub = "by " + r.Publisher
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Purpose, r.Type, r.Name, pub, r.Value)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout)
	tw = tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SELECTOR\tALGORITHM\tSTATE\tSINCE\tREMOVABLE FROM")
	for _, k := range d.Keys {
		since := k.Created
		if k.ActivatedAt != nil {
			since = *k.ActivatedAt
		}
		if k.RetiredAt != nil {
			since = *k.RetiredAt
		}
		removable := ""
		if k.RemovableAt != nil {
			removable = k.RemovableAt.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Selector, k.Algorithm, k.State,
			since.Local().Format(time.DateTime), orDash(removable))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if d.PublishError != "" {
		fmt.Fprintf(c.stdout, "\npublishing failed (retried in the background): %s\n", d.PublishError)
	}
	if len(d.Removable) > 0 {
		fmt.Fprintf(c.stdout, "\nremovable: delete the records of %s\n", strings.Join(d.Removable, ", "))
	}
	return nil
}

func (c *adminCmd) domainTable(list []api.DomainInfo) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tACCOUNT\tACTIVE\tPENDING\tREMOVABLE")
	for _, d := range list {
		var active, pending []string
		for _, k := range d.Keys {
			switch k.State {
			case "active":
				active = append(active, k.Selector)
			case "pending":
				pending = append(pending, k.Selector)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Domain, d.Account, orDash(strings.Join(active, ",")),
			orDash(strings.Join(pending, ",")), orDash(strings.Join(d.Removable, ",")))
	}
	return tw.Flush()
}

// printReport prints a check as one line per record, with what was found
// and expected when it is not ok.
func printReport(w io.Writer, r *dnsrec.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORD\tSTATUS\tDETAIL")
	line := func(name string, res dnsrec.Result) {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, res.Status, orDash(res.Detail))
		if res.Status != dnsrec.OK {
			for _, f := range res.Found {
				fmt.Fprintf(tw, "\t\tfound:    %s\n", f)
			}
			for _, e := range res.Expected {
				fmt.Fprintf(tw, "\t\texpected: %s\n", e)
			}
		}
	}
	line("spf", r.SPF)
	for _, s := range r.DKIM.Selectors {
		line("dkim "+s.Selector+" ("+string(s.State)+")", s.Result)
	}
	if len(r.DKIM.Selectors) == 0 {
		line("dkim", r.DKIM.Result)
	}
	line("dmarc", r.DMARC)
	if r.ReturnPath != nil {
		line("return-path", *r.ReturnPath)
	}
	for _, ip := range r.Pool {
		line("pool "+ip.Address+" "+ip.EHLO+" A", ip.Forward)
		line("pool "+ip.Address+" PTR", ip.PTR)
	}
	return tw.Flush()
}
