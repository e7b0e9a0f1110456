// Package history keeps recent history that every node writes and every
// node shows (replies per sending IP, intake events) in the shared state's
// bounded lists (state.State Record/Recent). Writers never wait for the
// state: a Recorder takes entries on a bounded channel and one goroutine
// writes them in batches, one Record call per list; when the channel is
// full (or the state fails) entries are dropped and counted, so a slow or
// unreachable Redis costs history, never an accept or a delivery.
package history

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"sendpool/internal/state"
)

// List is one bounded list of the shared state: its key, how many entries
// it keeps and how long it lives after its last write.
type List struct {
	Key  string
	Keep int
	TTL  time.Duration
}

// Config is what a Recorder needs. Zero values take the defaults noted.
type Config struct {
	State state.State
	// Buffer is how many entries may wait to be written; 0: 4096.
	Buffer int
	// Interval is how long an entry may wait for others to share its
	// write; 0: 200ms.
	Interval time.Duration
	// Timeout bounds each Record call; 0: 5s.
	Timeout time.Duration
	Logger  *slog.Logger // nil: discard
}

// entry is one value for one or more lists.
type entry struct {
	value []byte
	to    []List
}

// Recorder writes entries to the shared state in the background. Its
// methods are safe for concurrent use.
type Recorder struct {
	cfg     Config
	log     *slog.Logger
	in      chan entry
	syncs   chan chan struct{}
	stop    chan struct{}
	done    chan struct{}
	closed  atomic.Bool
	once    sync.Once
	dropped atomic.Uint64
}

// New starts a Recorder; Close stops it.
func New(cfg Config) *Recorder {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 4096
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{cfg: cfg, log: cfg.Logger, in: make(chan entry, cfg.Buffer),
		syncs: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

// Add queues value for the lists to; it never waits. It reports false when
// the entry was dropped (the buffer full, or the Recorder closed).
func (r *Recorder) Add(value []byte, to ...List) bool {
	if r.closed.Load() {
		r.dropped.Add(1)
		return false
	}
	select {
	case r.in <- entry{value: value, to: to}:
		return true
	default:
		r.dropped.Add(1)
		return false
	}
}

// Dropped returns how many entries were dropped: the buffer was full, the
// Recorder closed, or the state failed to take their batch (whose lists
// may then hold some of them).
func (r *Recorder) Dropped() uint64 { return r.dropped.Load() }

// Sync writes what was added before it was called, so that a reader on
// this node sees its own entries at once. It does not wait past ctx.
func (r *Recorder) Sync(ctx context.Context) error {
	req := make(chan struct{})
	select {
	case r.syncs <- req:
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes what is buffered and stops the Recorder. Later Adds drop.
func (r *Recorder) Close() error {
	r.once.Do(func() {
		r.closed.Store(true)
		close(r.stop)
	})
	<-r.done
	return nil
}

// run is the one goroutine that writes.
func (r *Recorder) run() {
	defer close(r.done)
	b := newBatch()
	var timer *time.Timer
	var tick <-chan time.Time
	flush := func() {
		if timer != nil {
			timer.Stop()
			timer, tick = nil, nil
		}
		r.write(b)
		b = newBatch()
	}
	for {
		select {
		case e := <-r.in:
			b.add(e)
			if tick == nil {
				timer = time.NewTimer(r.cfg.Interval)
				tick = timer.C
			}
			if b.n >= r.cfg.Buffer {
				flush()
			}
		case <-tick:
			timer, tick = nil, nil
			flush()
		case req := <-r.syncs:
			r.drain(b)
			flush()
			close(req)
		case <-r.stop:
			r.drain(b)
			flush()
			return
		}
	}
}

// drain moves every entry waiting on the channel into b.
func (r *Recorder) drain(b *batch) {
	for {
		select {
		case e := <-r.in:
			b.add(e)
		default:
			return
		}
	}
}

// write makes one Record call per list of b, oldest values first. After
// a failure it gives up the batch (counted as dropped): a state that is
// down would otherwise cost a timeout per list, and Sync waits on this.
func (r *Recorder) write(b *batch) {
	for _, l := range b.order {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
		err := r.cfg.State.Record(ctx, l.Key, l.Keep, l.TTL, b.values[l]...)
		cancel()
		if err != nil {
			r.dropped.Add(uint64(b.n))
			r.log.Warn("history: batch not written", "list", l.Key, "entries", b.n, "err", err)
			return
		}
	}
}

// batch gathers values per list, lists in the order first seen.
type batch struct {
	values map[List][][]byte
	order  []List
	n      int
}

func newBatch() *batch { return &batch{values: map[List][][]byte{}} }

func (b *batch) add(e entry) {
	for _, l := range e.to {
		if _, ok := b.values[l]; !ok {
			b.order = append(b.order, l)
		}
		b.values[l] = append(b.values[l], e.value)
	}
	b.n++
}
