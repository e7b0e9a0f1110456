package dnspub

import (
	"context"
	"errors"
	"time"

	"sendpool/internal/domain"
)

func joinErrs(errs []error) error { return errors.Join(errs...) }

// Run keeps every domain of the configured zones published until ctx ends:
// sendpool's SPF host at once, then every domain each interval (which
// retries failures and moves rotations on: revocation and deletion are due
// by the clock), and a domain Kick names as soon as it is named.
func (p *Publisher) Run(ctx context.Context, interval time.Duration) {
	if len(p.cfg.Zones) == 0 {
		return
	}
	if err := p.SyncService(ctx); err != nil && ctx.Err() == nil {
		p.log.WarnContext(ctx, "dnspub: service records", "err", err)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case name := <-p.kick:
			p.Sync(ctx, name) // logged and kept in Status
		case <-t.C:
			p.SyncAll(ctx)
		}
	}
}

// SyncAll syncs sendpool's SPF host and every domain inside a configured
// zone; each failure is logged and kept in Status.
func (p *Publisher) SyncAll(ctx context.Context) {
	if err := p.SyncService(ctx); err != nil && ctx.Err() == nil {
		p.log.WarnContext(ctx, "dnspub: service records", "err", err)
	}
	ds, err := p.cfg.Store.ListDomains(ctx, "")
	if err != nil {
		p.log.WarnContext(ctx, "dnspub: list domains", "err", err)
		return
	}
	for _, d := range ds {
		if ctx.Err() != nil {
			return
		}
		if p.ZoneOf(d.Name) != nil {
			if err := p.Sync(ctx, d.Name); err != nil && errors.Is(err, domain.ErrNotFound) {
				continue // removed meanwhile
			}
		}
	}
}
