package queue

import (
	"context"
	"sync"
)

// A group of deliveries shares one connection (up to
// delivery.messages_per_connection) and its results used to be recorded
// when the whole group was done. A node killed in the middle then left
// every message the group had already delivered unrecorded, to be sent
// again by the node that took its leases over. So a courier says each
// success as it happens (Delivered) and the scheduler records it while the
// group goes on, in batches (one gathers while the last is written): what
// a killed node sends twice is only what the batches being written held.

// Delivered tells the scheduler whose group ctx was made for that the
// receiver accepted l's message; r is the Result the courier will also
// return for it. Without a scheduler behind ctx (tests, a courier used
// alone) it does nothing.
func Delivered(ctx context.Context, l *Lease, r Result) {
	if h, ok := ctx.Value(holdKey{}).(*holding); ok && h.early != nil {
		h.early.add(l, r)
	}
}

// early records a group's deliveries said Delivered before the group ends.
type early struct {
	s     *Scheduler
	ctx   context.Context
	index map[*Lease]int

	// write is held while a batch is recorded and while the group's
	// leases are renewed: a renewal must not find a delivery that a batch
	// just recorded and take it for a lost lease.
	write sync.Mutex

	mu      sync.Mutex
	pending []earlyItem
	taken   []bool // said Delivered: not renewed any more
	done    []bool // recorded (or failed to be: the group's end does not try again)

	kick chan struct{}
	stop chan struct{}
	over chan struct{}
}

type earlyItem struct {
	i int
	r Result
}

func (s *Scheduler) newEarly(ctx context.Context, group []*Lease) *early {
	e := &early{s: s, ctx: ctx, index: make(map[*Lease]int, len(group)), taken: make([]bool, len(group)),
		done: make([]bool, len(group)), kick: make(chan struct{}, 1), stop: make(chan struct{}), over: make(chan struct{})}
	for i, l := range group {
		e.index[l] = i
	}
	go e.run(group)
	return e
}

func (e *early) add(l *Lease, r Result) {
	i, ok := e.index[l]
	if !ok || r.Verdict != VerdictDelivered {
		return
	}
	e.mu.Lock()
	if e.taken[i] {
		e.mu.Unlock()
		return
	}
	e.taken[i] = true
	e.pending = append(e.pending, earlyItem{i, r})
	e.mu.Unlock()
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// run records successes as a group commit: the first goes at once, and
// those said while a batch is written go together in the next (kick holds
// one wake-up). No timer holds a success back: each moment it waits is a
// moment in which a killed node has delivered it without recording it, and
// the store's own group commit (SQLite's writer, MongoDB's report rounds)
// already merges what many groups record at once.
func (e *early) run(group []*Lease) {
	defer close(e.over)
	for {
		select {
		case <-e.kick:
			e.flush(group)
		case <-e.stop:
			e.flush(group)
			return
		}
	}
}

// flush records the deliveries said Delivered since the last flush, with
// their events first (SchedulerConfig.OnOutcomes), as the group's end does.
func (e *early) flush(group []*Lease) {
	e.mu.Lock()
	items := e.pending
	e.pending = nil
	e.mu.Unlock()
	if len(items) == 0 {
		return
	}
	ls := make([]*Lease, len(items))
	outs := make([]Outcome, len(items))
	rs := make([]Result, len(items))
	for j, it := range items {
		ls[j], rs[j] = group[it.i], it.r
		outs[j] = e.s.outcome(ls[j], it.r)
	}
	e.write.Lock()
	if e.s.cfg.OnOutcomes != nil {
		bi := make([]BounceItem, len(items))
		for j := range items {
			bi[j] = BounceItem{Lease: ls[j], Outcome: outs[j], Result: rs[j]}
		}
		e.s.cfg.OnOutcomes(e.ctx, bi)
	}
	e.s.report(e.ctx, ls, outs, rs, func(int) bool { return true })
	e.write.Unlock()
	e.mu.Lock()
	for _, it := range items {
		e.done[it.i] = true
	}
	e.mu.Unlock()
}

// open returns the leases of group not said Delivered: those to renew.
func (e *early) open(group []*Lease) []*Lease {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ls []*Lease
	for i, l := range group {
		if !e.taken[i] {
			ls = append(ls, l)
		}
	}
	return ls
}

// close records what is still pending and returns which deliveries of the
// group were recorded here, for the group's end to leave alone.
func (e *early) close() []bool {
	close(e.stop)
	<-e.over
	return e.done
}
