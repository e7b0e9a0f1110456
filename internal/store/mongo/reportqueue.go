package mongo

import (
	"context"
	"sync"

	"sendpool/internal/queue"
)

// reportQueue merges the ReportAll calls a node's delivery groups make at
// once into one batch (a group commit, as Put's rounds are): while one
// batch is with the server, the calls that arrive meanwhile wait, then go
// together. A batch costs a few commands whatever its size, and at a
// modest rate each group reports one or two messages at a time, so the
// commands, not the mail, were the shared server's load: measured on the
// two-node bench (FerretDB), the commands recording results fell from
// about six a delivered message to a fraction of one. Nothing waits for a
// timer: a call alone goes at once, and the batches grow only as the
// server slows down.
type reportQueue struct {
	mu    sync.Mutex
	queue []*reportCall
	busy  bool // a batch is being written; the next writer waits its turn
}

// reportCall is one ReportAll waiting for its batch.
type reportCall struct {
	ctx  context.Context
	ls   []*queue.Lease
	os   []queue.Outcome
	errs []error
	lead bool          // woken to write the next batch, not with its answer
	done chan struct{} // closed once errs is set, or to lead
}

// do records os for ls with whatever other calls are waiting, by write,
// and returns this call's errors. A batch runs under the context of the
// call that writes it (the first waiting): the scheduler's report
// contexts are all WithoutCancel with a deadline of their own, and a
// result a batch failed to take is tried again by its caller.
func (q *reportQueue) do(ctx context.Context, ls []*queue.Lease, os []queue.Outcome,
	write func(context.Context, []*queue.Lease, []queue.Outcome) []error) []error {
	c := &reportCall{ctx: ctx, ls: ls, os: os, done: make(chan struct{})}
	q.mu.Lock()
	q.queue = append(q.queue, c)
	if q.busy {
		q.mu.Unlock()
		<-c.done
		if !c.lead {
			return c.errs
		}
		q.mu.Lock()
	}
	q.busy = true
	batch := q.queue
	q.queue = nil
	q.mu.Unlock()

	writeBatch(batch, write)

	q.mu.Lock()
	if len(q.queue) > 0 {
		next := q.queue[0]
		next.lead = true
		close(next.done)
	} else {
		q.busy = false
	}
	q.mu.Unlock()
	return c.errs
}

// writeBatch records batch in one write under its first call's context
// (the one writing) and answers the others.
func writeBatch(batch []*reportCall, write func(context.Context, []*queue.Lease, []queue.Outcome) []error) {
	var ls []*queue.Lease
	var os []queue.Outcome
	for _, c := range batch {
		ls = append(ls, c.ls...)
		os = append(os, c.os...)
	}
	errs := write(batch[0].ctx, ls, os)
	off := 0
	for i, c := range batch {
		c.errs = errs[off : off+len(c.ls) : off+len(c.ls)]
		off += len(c.ls)
		if i > 0 {
			close(c.done)
		}
	}
}
