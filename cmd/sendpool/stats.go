package main

import (
	"context"
	"log/slog"

	"sendpool/internal/queue"
	"sendpool/internal/state"
	"sendpool/internal/stats"
)

// counts is the node's part of the panel's pictures: the recorder the
// delivery path counts into, written to the shared state in the
// background, and the reader the panel draws from.
type counts struct {
	rec    *stats.Recorder
	reader *stats.Reader
	stop   func() error
}

func startStats(ctx context.Context, shared state.State, q queue.Store, logger *slog.Logger) *counts {
	rec := stats.New(stats.Config{State: shared, Logger: logger, Depth: func(ctx context.Context) (int, error) {
		c, err := q.Counts(ctx)
		return c[queue.StatusQueued] + c[queue.StatusDeferred] + c[queue.StatusHeld], err
	}})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); rec.Run(sctx) }()
	return &counts{rec: rec, reader: &stats.Reader{State: shared},
		stop: func() error { cancel(); <-done; return nil }}
}

// onFinal counts each recipient's final outcome (delivered or bounced)
// for its account's 30-day picture, then calls next. DSNs are not the
// account's mail.
func (c *counts) onFinal(next func(context.Context, *queue.Lease, queue.Outcome, queue.Result)) func(context.Context, *queue.Lease, queue.Outcome, queue.Result) {
	return func(ctx context.Context, l *queue.Lease, o queue.Outcome, r queue.Result) {
		if !l.Bounce && (o.Status == queue.StatusDelivered || o.Status == queue.StatusBounced) {
			c.rec.Final(l.Account, o.Status == queue.StatusBounced)
		}
		if next != nil {
			next(ctx, l, o, r)
		}
	}
}
