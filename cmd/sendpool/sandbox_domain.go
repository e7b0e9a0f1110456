package main

import (
	"context"
	"errors"
	"time"

	"sendpool/internal/domain"
	"sendpool/internal/sandbox"
)

// addDemoDomain gives the demo domain its DKIM keys and publishes every
// record it should have in the sandbox DNS, so that the demo's mail is
// signed and its check is ok.
func addDemoDomain(ctx context.Context, n *node, w *sandbox.World) error {
	d, err := n.domains.keys.Add(ctx, demoDomain, demoAccount)
	if errors.Is(err, domain.ErrExists) {
		d, err = n.domains.api.Store.GetDomain(ctx, demoDomain)
	}
	if err != nil {
		return err
	}
	by := map[string][]string{}
	for _, r := range n.domains.api.Records.Records(d, time.Now()) {
		if r.Type == "TXT" {
			by[r.Name] = append(by[r.Name], r.Value)
		}
	}
	for name, values := range by {
		w.DNS.SetTXT(name, values...)
	}
	return nil
}
