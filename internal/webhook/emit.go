package webhook

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/state"
	"sendpool/internal/suppression"
)

// appendFor bounds how long a node keeps trying to write events the store
// refuses before it counts them lost: the outcome they report is about to
// be recorded, and waiting longer holds the delivery's worker.
const appendFor = 30 * time.Second

// Metrics is what the webhook parts count; *metrics.Webhook satisfies it.
type Metrics interface {
	Sent(t Type)   // an event an endpoint took (2xx)
	Failed(t Type) // an attempt that failed (anything else, or no answer)
	GaveUp()       // a send dropped after webhook.retry_for
	Disabled()     // an endpoint the breaker disabled
	Lost(n int)    // events the store would not take
}

// nopMetrics counts nothing.
type nopMetrics struct{}

func (nopMetrics) Sent(Type)   {}
func (nopMetrics) Failed(Type) {}
func (nopMetrics) GaveUp()     {}
func (nopMetrics) Disabled()   {}
func (nopMetrics) Lost(int)    {}

// Messages reads the Message-ID header of a stored message (its intake
// record's, queue.Intake.HeaderMessageID) accepted on another node or
// before a restart: one read by id. "" for none.
type Messages interface {
	HeaderMessageID(ctx context.Context, id string) (string, error)
}

// EmitterConfig configures an Emitter.
type EmitterConfig struct {
	Store     Store
	Endpoints *Endpoints
	Messages  Messages // nil: header_message_id only for messages accepted here
	// SuppressFor is suppression.ttl: a bounce that puts its recipient on
	// the account's list is followed by a suppressed event; 0: off.
	SuppressFor time.Duration
	// Once reports whether key was not taken yet within the given time,
	// taking it: of the nodes that all see an IP's suspension end by
	// itself, one writes ip_resumed. nil: every caller is first.
	Once func(ctx context.Context, key string, within time.Duration) bool
	// Atomic, if set, stores a message and its accepted event in one
	// transaction, under whatever wraps the queue Queue is given (the
	// embedded store under the node's lookup cache).
	Atomic   AtomicPut
	Now      func() time.Time // nil: time.Now
	Logger   *slog.Logger     // nil: discard
	Metrics  Metrics          // nil: none
	OnAppend func()           // wakes this node's sender; may be nil
}

// Emitter turns what happens into events in the outbox. Its methods are the
// hooks other parts call (scheduler, intake's queue, pool tracker,
// protector, DNS watch).
type Emitter struct {
	cfg     EmitterConfig
	log     *slog.Logger
	headers *lru // message id → Message-ID header

	// The background writer: one goroutine while there is work, so that
	// events written in the background keep their order.
	bgMu      sync.Mutex
	bgQueue   []func()
	bgRunning bool
	bg        sync.WaitGroup
}

// headerCache is how many messages' Message-ID headers a node keeps.
const headerCache = 20000

// NewEmitter returns an Emitter.
func NewEmitter(cfg EmitterConfig) *Emitter {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	return &Emitter{cfg: cfg, log: cfg.Logger, headers: newLRU(headerCache)}
}

// records gives each event its targets: the endpoints that want it.
// Disabled ones too: their sends wait for a re-enable.
func (e *Emitter) records(ctx context.Context, evs []Event) ([]Record, error) {
	eps, err := e.cfg.Endpoints.List(ctx)
	if err != nil {
		return nil, err
	}
	recs := make([]Record, len(evs))
	for i, ev := range evs {
		recs[i].Event = ev
		for _, ep := range eps {
			if ep.Wants(ev.Type, ev.Account) {
				recs[i].Targets = append(recs[i].Targets, ep.ID)
			}
		}
	}
	return recs, nil
}

// write appends evs once, with ctx's deadline.
func (e *Emitter) write(ctx context.Context, evs []Event) error {
	recs, err := e.records(ctx, evs)
	if err == nil {
		err = e.cfg.Store.Append(ctx, recs)
	}
	if err == nil && e.cfg.OnAppend != nil {
		e.cfg.OnAppend()
	}
	return err
}

// append writes evs, trying again for appendFor (even at shutdown: what
// they report is happening); after that they are logged and counted lost.
func (e *Emitter) append(ctx context.Context, evs []Event) {
	if len(evs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendFor)
	defer cancel()
	wait := 100 * time.Millisecond
	for {
		err := e.write(ctx, evs)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			ids := make([]string, len(evs))
			for i, ev := range evs {
				ids[i] = string(ev.Type) + " " + ev.ID
			}
			e.log.Error("webhook: events lost: the store did not take them", "events", ids, "err", err)
			e.cfg.Metrics.Lost(len(evs))
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// add makes p's event (a new id, keyed by key) and adds it to evs.
func (e *Emitter) add(evs []Event, p Payload, key string) []Event {
	if p.ID == "" {
		p.ID = NewID(e.cfg.Now())
	}
	if p.Time.IsZero() {
		p.Time = e.cfg.Now()
	}
	ev, err := p.event(key)
	if err != nil {
		e.log.Error("webhook: event not encoded", "type", p.Type, "err", err)
		return evs
	}
	return append(evs, ev)
}

// Outcomes is the scheduler's OnOutcomes hook: one event per delivery
// outcome about to be recorded (a deferral only if an attempt was made),
// and a suppressed event after a bounce that suppresses its recipient.
// DSNs sendpool made (Lease.Bounce) get none. It returns once the events
// are written.
func (e *Emitter) Outcomes(ctx context.Context, items []queue.BounceItem) {
	var evs []Event
	for _, it := range items {
		l, o, r := it.Lease, it.Outcome, it.Result
		if l.Bounce || l.Account == "" {
			continue
		}
		var typ Type
		switch o.Status {
		case queue.StatusDelivered:
			typ = Delivered
		case queue.StatusBounced:
			typ = Bounced
			if o.Attempt.Category == "expired" { // the scheduler's note for max_queue_time
				typ = Expired
			}
		case queue.StatusDeferred:
			if o.Attempt.Time.IsZero() {
				continue // nothing was tried (a held account, shutdown)
			}
			typ = Deferred
		default:
			continue
		}
		p := Payload{Type: typ, Time: o.Attempt.Time, MessageID: l.MessageID,
			HeaderMessageID: e.headerID(ctx, l), Account: l.Account, From: l.From,
			Recipient: l.Recipient, IP: o.Attempt.SourceIP, MX: o.Attempt.MX, MXAddr: o.Attempt.MXAddr,
			Reply: o.Attempt.Response, Category: o.Attempt.Category, Attempts: l.Attempts}
		if !r.Attempt.Time.IsZero() {
			p.Attempts++
		}
		if typ == Deferred {
			p.NextAttempt = timePtr(o.Next)
		}
		evs = e.add(evs, p, l.MessageID)
		if typ == Bounced && e.cfg.SuppressFor > 0 && suppression.Suppresses(l, o, r) {
			now := e.cfg.Now()
			evs = e.add(evs, Payload{Type: Suppressed, MessageID: l.MessageID, HeaderMessageID: p.HeaderMessageID,
				Account: l.Account, Recipient: l.Recipient, Reason: suppression.ReasonBadMailbox,
				Reply: o.Attempt.Response, Expires: timePtr(now.Add(e.cfg.SuppressFor))}, l.MessageID)
		}
	}
	e.append(ctx, evs)
}

// headerID is a message's Message-ID header: as its delivery keeps it
// (queue.Lease.HeaderID), else remembered from its accept on this node,
// else read from its intake record.
func (e *Emitter) headerID(ctx context.Context, l *queue.Lease) string {
	if l.HeaderID != "" {
		return l.HeaderID
	}
	id := l.MessageID
	if h, ok := e.headers.get(id); ok {
		return h
	}
	if e.cfg.Messages == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	h, err := e.cfg.Messages.HeaderMessageID(ctx, id)
	if err != nil {
		return ""
	}
	e.headers.put(id, h)
	return h
}

// Queue returns q with a Put that writes the message's accepted event with
// it: in the same transaction where the store can (AtomicPut), else first,
// marked to count only once the message is stored (Event.Commit). Written
// after Put, a crash in between would lose it. If the event cannot be
// written the message is not taken either: the client is told to try again
// (451) and nothing is half done.
func (e *Emitter) Queue(q queue.Store) queue.Store { return &acceptQueue{Store: q, e: e} }

type acceptQueue struct {
	queue.Store
	e *Emitter
}

func (a *acceptQueue) Put(ctx context.Context, m *queue.Message) error {
	if m.Bounce || m.Account == "" {
		return a.Store.Put(ctx, m)
	}
	e := a.e
	now := e.cfg.Now()
	if m.ID == "" {
		m.ID = queue.NewID(now)
	}
	p := Payload{Type: Accepted, Time: m.Created, MessageID: m.ID, Account: m.Account, From: m.From,
		Recipients: m.Recipients, Size: len(m.Body)}
	if m.Intake != nil {
		p.HeaderMessageID = m.Intake.HeaderMessageID
	}
	evs := e.add(nil, p, m.ID)
	e.headers.put(m.ID, p.HeaderMessageID)
	at, ok := a.Store.(AtomicPut)
	if e.cfg.Atomic != nil {
		at, ok = e.cfg.Atomic, true
	}
	if ok && len(evs) == 1 {
		recs, err := e.records(ctx, evs)
		if err != nil {
			return err
		}
		if err := at.PutWithEvents(ctx, m, recs); err != nil {
			return err
		}
		if e.cfg.OnAppend != nil {
			e.cfg.OnAppend()
		}
		return nil
	}
	if len(evs) == 1 {
		evs[0].Commit = m.ID
		if err := e.write(ctx, evs); err != nil {
			return err
		}
	}
	// Bounded, so that a Put still going when its event is judged
	// (SettleWithin) cannot be.
	ctx, cancel := context.WithTimeout(ctx, PutWithin)
	defer cancel()
	return a.Store.Put(ctx, m)
}

// AtomicPut is a queue that stores a message and events in one
// transaction (the embedded store): the accepted event then goes with the
// message, no Commit mark and no second commit needed.
type AtomicPut interface {
	PutWithEvents(ctx context.Context, m *queue.Message, recs []Record) error
}

// background appends evs without holding up the caller (a delivery that
// hit a block, the tracker's refresh, an accept that tripped a hold), in
// the order of the calls.
func (e *Emitter) background(ctx context.Context, evs []Event) {
	ctx = context.WithoutCancel(ctx)
	e.later(func() { e.append(ctx, evs) })
}

// later runs fn on the background writer, after what was queued before.
func (e *Emitter) later(fn func()) {
	e.bgMu.Lock()
	defer e.bgMu.Unlock()
	e.bgQueue = append(e.bgQueue, fn)
	if e.bgRunning {
		return
	}
	e.bgRunning = true
	e.bg.Go(func() {
		for {
			e.bgMu.Lock()
			if len(e.bgQueue) == 0 {
				e.bgRunning = false
				e.bgMu.Unlock()
				return
			}
			fn := e.bgQueue[0]
			e.bgQueue = e.bgQueue[1:]
			e.bgMu.Unlock()
			fn()
		}
	})
}

// Close waits for the events being written in the background.
func (e *Emitter) Close() error {
	e.bg.Wait()
	return nil
}

// Suspended is the pool tracker's hook for a suspension it made: an
// ip_suspended event (to global endpoints).
func (e *Emitter) Suspended(ctx context.Context, s state.Suspension) {
	e.background(ctx, e.add(nil, Payload{Type: IPSuspended, IP: s.IP, Scope: s.Scope, Source: s.Source,
		Reason: s.Reason, Until: timePtr(s.Until)}, "ip:"+s.IP))
}

// Resumed is the pool tracker's hook for a suspension that ended (by hand,
// or by time, which every node sees: Once lets one of them write it).
func (e *Emitter) Resumed(ctx context.Context, s state.Suspension) {
	evs := e.add(nil, Payload{Type: IPResumed, IP: s.IP, Scope: s.Scope, Source: s.Source, Reason: s.Reason}, "ip:"+s.IP)
	key := "webhook:ip_resumed:" + s.IP + ":" + s.Scope + ":" + s.Since.UTC().Format(time.RFC3339Nano)
	ctx = context.WithoutCancel(ctx)
	e.later(func() {
		if e.cfg.Once == nil || e.cfg.Once(ctx, key, 24*time.Hour) {
			e.append(ctx, evs)
		}
	})
}

// Held is the protector's hook for an account it held.
func (e *Emitter) Held(ctx context.Context, account, reason string) {
	e.background(ctx, e.add(nil, Payload{Type: AccountHeld, Account: account, Reason: reason}, "account:"+account))
}

// DNSError writes a domain_dns_error event for a domain whose records are
// not as they should be.
func (e *Emitter) DNSError(ctx context.Context, account, domain string, records []DNSRecord) {
	e.append(ctx, e.add(nil, Payload{Type: DomainDNSError, Account: account, Domain: domain, Records: records},
		"domain:"+domain))
}

// EndpointDisabled tells the other global endpoints that ep was disabled.
func (e *Emitter) EndpointDisabled(ctx context.Context, ep *Endpoint, reason string) {
	e.append(ctx, e.add(nil, Payload{Type: Disabled, Webhook: ep.ID, Reason: reason}, "webhook:"+ep.ID))
}
