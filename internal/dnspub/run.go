package dnspub

import (
	"context"
	"errors"
	"time"
)

func joinErrs(errs []error) error { return errors.Join(errs...) }

// syncTimeout bounds one domain's sync in the loop: a server that does not
// answer holds up the others this long at most, and is tried again next
// round.
const syncTimeout = 30 * time.Second

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
			sctx, cancel := context.WithTimeout(ctx, syncTimeout)
			p.Sync(sctx, name) // logged and kept in Status
			cancel()
		case <-t.C:
			p.SyncAll(ctx)
		}
	}
}

// SyncAll syncs sendpool's SPF host and every domain inside a configured
// zone; each failure is logged and kept in Status.
func (p *Publisher) SyncAll(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, syncTimeout)
	err := p.SyncService(sctx)
	cancel()
	if err != nil && ctx.Err() == nil {
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
			sctx, cancel := context.WithTimeout(ctx, syncTimeout)
			p.Sync(sctx, d.Name) // logged and kept in Status; a domain removed meanwhile is ErrNotFound
			cancel()
		}
	}
}
