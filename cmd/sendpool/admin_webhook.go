package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"sendpool/internal/api"
	"sendpool/internal/webhook"
)

// webhook runs webhook add, ls, rm, rotate and enable: the endpoints that
// get events (SPEC §7), through the API.
func (c *adminCmd) webhook(ctx context.Context, sub string, args []string) error {
	switch sub {
	case "add":
		events := c.fs.String("events", "", "event types, comma-separated (default: all but deferred)")
		acct := c.fs.String("account", "", "only this account's events (default: every account's and the pool's)")
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		req := api.WebhookRequest{URL: pos[0], Account: *acct}
		for _, t := range splitList(*events) {
			req.Events = append(req.Events, webhook.Type(t))
		}
		w, err := c.client().CreateWebhook(ctx, req)
		if err != nil {
			return err
		}
		return c.printSecret(w)
	case "ls":
		if _, err := c.parse(args, 0); err != nil {
			return err
		}
		list, err := c.client().Webhooks(ctx)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(list)
		}
		return c.webhookTable(list...)
	case "rm":
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		if err := c.client().DeleteWebhook(ctx, pos[0]); err != nil {
			return err
		}
		if !c.json {
			fmt.Fprintf(c.stdout, "webhook %s removed\n", pos[0])
		}
		return nil
	case "rotate":
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		w, err := c.client().RotateWebhook(ctx, pos[0])
		if err != nil {
			return err
		}
		return c.printSecret(w)
	case "enable":
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		w, err := c.client().EnableWebhook(ctx, pos[0])
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(w)
		}
		return c.webhookTable(*w)
	}
	return fmt.Errorf("%w: unknown command webhook %q", errUsage, sub)
}

// printSecret prints an endpoint with its new secret, which the API shows
// only this once.
func (c *adminCmd) printSecret(w *api.WebhookSecret) error {
	if c.json {
		return c.printJSON(w)
	}
	if err := c.webhookTable(w.Webhook); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "\nsecret: %s\n", w.Secret)
	if w.PreviousSecretExpires != nil {
		fmt.Fprintf(c.stdout, "the previous secret signs too until %s\n", when(*w.PreviousSecretExpires))
	}
	fmt.Fprintln(c.stdout, "(shown once: verify webhook-signature with it, per standardwebhooks.com)")
	return nil
}

func (c *adminCmd) webhookTable(list ...api.Webhook) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tURL\tACCOUNT\tEVENTS\tSTATUS")
	for _, w := range list {
		status := "active"
		switch {
		case w.Disabled:
			status = "disabled: " + w.Reason
		case w.FailingSince != nil:
			status = "failing since " + when(*w.FailingSince)
		}
		events := make([]string, len(w.Events))
		for i, t := range w.Events {
			events[i] = string(t)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", w.ID, w.URL, orDash(w.Account), strings.Join(events, ","), status)
	}
	return tw.Flush()
}
