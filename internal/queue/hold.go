package queue

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Leases are short (delivery.lease_for, 30 s by default), so that the work
// of a node that dies goes to the others within that time; a delivery may
// take much longer (RFC 5321 §4.5.3.2 lets a receiver take 10 minutes to
// answer the end of data). So while a group is being worked on, its node
// renews the group's leases every third of a lease: a live node keeps its
// work, a dead one's lapses at once.
//
// A node that cannot renew (it was paused past its lease, or cut off from
// the store) must not go on delivering what another node may already be
// delivering: the group's context ends when a lease is lost, and the
// courier asks Held before each transaction, which compares the leases'
// end with the clock, whoever runs first.

// ErrLeaseExpired ends a group whose leases could not be renewed in time.
var ErrLeaseExpired = errors.New("queue: lease not renewed in time")

type holdKey struct{}

// holding is a group's renewal: the end of its leases as last renewed.
type holding struct {
	now   func() time.Time
	until atomic.Int64 // unix nanoseconds: stop delivering from then on

	cancel context.CancelCauseFunc
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	early *early // the group's successes recorded as they come (early.go)
}

// Held reports whether the leases of the group ctx was made for still hold.
// A courier asks it before each mail transaction. Without a hold in ctx
// (tests, a courier used alone) it is always true.
func Held(ctx context.Context) bool {
	h, ok := ctx.Value(holdKey{}).(*holding)
	return !ok || h.now().UnixNano() < h.until.Load()
}

// hold starts renewing group's leases and returns the context to work on
// them under: it ends when a lease is lost, or could not be renewed before
// it ended. end stops the renewal, records the successes still pending
// (early.go) and says which deliveries of group are recorded already; it
// must be called once the group is done with, before the rest is reported.
func (s *Scheduler) hold(ctx context.Context, group []*Lease) (hctx context.Context, end func() (recorded []bool)) {
	h := &holding{now: s.cfg.Now, stop: make(chan struct{}), done: make(chan struct{}), early: s.newEarly(ctx, group)}
	h.setUntil(group, s.cfg.LeaseFor)
	hctx, h.cancel = context.WithCancelCause(context.WithValue(ctx, holdKey{}, h))
	go s.renew(hctx, group, h)
	return hctx, func() []bool {
		h.once.Do(func() { close(h.stop) })
		<-h.done
		h.cancel(context.Canceled)
		return h.early.close()
	}
}

// setUntil takes the earliest lease end, less a sixth of a lease: the
// margin a transaction under way needs to finish or be cut short before
// another node may take the work.
func (h *holding) setUntil(group []*Lease, leaseFor time.Duration) {
	var first time.Time
	for _, l := range group {
		if first.IsZero() || l.Until.Before(first) {
			first = l.Until
		}
	}
	h.until.Store(first.Add(-leaseFor / 6).UnixNano())
}

// renew renews group's leases every third of a lease until end is called.
func (s *Scheduler) renew(ctx context.Context, group []*Lease, h *holding) {
	defer close(h.done)
	t := time.NewTicker(s.cfg.LeaseFor / 3)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		if !s.cfg.Now().Before(time.Unix(0, h.until.Load())) {
			h.cancel(ErrLeaseExpired)
			s.cfg.Logger.Warn("leases ended before they could be renewed: stopping", "deliveries", len(group))
			return
		}
		h.early.write.Lock()
		open := h.early.open(group)
		if len(open) == 0 {
			h.early.write.Unlock()
			return // nothing left to hold
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.LeaseFor/6)
		lost, err := s.store.Renew(rctx, open, s.cfg.Now(), s.cfg.LeaseFor)
		cancel()
		h.early.write.Unlock()
		switch {
		case err != nil:
			// Tried again at the next tick; Held turns false when the
			// leases end meanwhile.
			s.cfg.Logger.Warn("renewing leases", "deliveries", len(group), "err", err)
		case len(lost) > 0:
			h.cancel(ErrLeaseLost)
			s.cfg.Logger.Warn("leases lost while delivering: stopping", "lost", len(lost), "delivery", lost[0].ID)
			return
		default:
			h.setUntil(open, s.cfg.LeaseFor)
		}
	}
}
