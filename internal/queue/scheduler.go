package queue

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	// Owner names this node's leases.
	Owner string
	// Workers is how many groups are delivered at once.
	Workers int
	// Batch is how many deliveries one lease call takes at most.
	Batch int
	// PerConnection caps a group's size: the messages that share one
	// connection.
	PerConnection int
	// LeaseFor is how long a lease lasts; the leases of a group being
	// worked on are renewed every third of it (hold.go).
	LeaseFor time.Duration
	// MaxGroupTime bounds the courier's work on one group, whatever its
	// receivers do (0: 30 minutes).
	MaxGroupTime time.Duration
	// Poll is how often the queue is looked at when nothing wakes the
	// scheduler (retries coming due, other nodes' expired leases).
	Poll time.Duration
	// Retry is the retry schedule; its last step repeats.
	Retry  []time.Duration
	Now    func() time.Time
	Logger *slog.Logger
	// OnFinal, if set, is called once a delivery is delivered or bounced,
	// after the store recorded it.
	OnFinal func(ctx context.Context, l *Lease, o Outcome, r Result)
	// OnBounce, if set, is given a group's bounced deliveries BEFORE the
	// store records them, and returns once their DSNs are durable: a crash
	// in between leaves the deliveries leased, to be tried and bounced
	// again, never bounced without a DSN. If it fails, they are recorded
	// deferred until the first retry step instead (a DSN may go twice,
	// never not at all).
	OnBounce func(ctx context.Context, items []BounceItem) error
	// DelayNotice is how long after its message was accepted a delivery
	// still deferred gets one delay notice (delivery.delay_notice); 0: never.
	DelayNotice time.Duration
	// OnOutcomes, if set, is given every outcome of a group BEFORE the
	// store records any of them (after OnBounce, so it sees what will be
	// recorded), and returns once it has done with them: webhooks write
	// their events here, so that no recorded outcome lacks its event. A
	// crash in between leaves the deliveries leased, to be tried again.
	OnOutcomes func(ctx context.Context, items []BounceItem)
	// OnDelay, if set, is given a group's deferred deliveries whose delay
	// notice is due BEFORE the store marks them notified, and returns once
	// the notices are durable (it may gather them a while first; ctx ending
	// asks it to cut that short, not to give up). A crash in between leaves
	// them unmarked, so a later round gives the notice again: it may go
	// twice, never not at all. If it fails they are recorded unmarked, and
	// the notice is due again at the next deferral (notice.go).
	OnDelay func(ctx context.Context, items []DelayItem) error
}

// BounceItem is one delivery's outcome given to SchedulerConfig.OnBounce
// (bounced ones) and OnOutcomes (all).
type BounceItem struct {
	Lease   *Lease
	Outcome Outcome
	Result  Result
}

// Scheduler leases due deliveries, hands them to the courier in groups that
// share a recipient domain, and records what came of them.
type Scheduler struct {
	store   Store
	courier Courier
	cfg     SchedulerConfig
	wake    chan struct{}

	mu  sync.Mutex
	rnd *rand.Rand
}

// NewScheduler returns a scheduler; zero config fields get defaults.
func NewScheduler(store Store, courier Courier, cfg SchedulerConfig) *Scheduler {
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.PerConnection <= 0 {
		cfg.PerConnection = 100
	}
	if cfg.LeaseFor <= 0 {
		cfg.LeaseFor = 30 * time.Second
	}
	if cfg.MaxGroupTime <= 0 {
		cfg.MaxGroupTime = 30 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if len(cfg.Retry) == 0 {
		cfg.Retry = []time.Duration{5 * time.Minute}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{
		store: store, courier: courier, cfg: cfg,
		wake: make(chan struct{}, 1),
		rnd:  rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

// Wake tells the scheduler that new work may be due (a message was queued).
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for the groups in flight.
func (s *Scheduler) Run(ctx context.Context) error {
	if n, err := s.store.ReleaseOwner(ctx, s.cfg.Owner); err != nil {
		return err
	} else if n > 0 {
		s.cfg.Logger.Info("took back leases of a previous run", "owner", s.cfg.Owner, "deliveries", n)
	}
	slots := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-timer.C:
		}
		// Lease while there is room and the queue gives full batches.
		for ctx.Err() == nil {
			free := s.cfg.Workers - len(slots)
			if free == 0 {
				// Wait for a slot rather than leasing work that would sit.
				select {
				case slots <- struct{}{}:
					<-slots
				case <-ctx.Done():
				}
				continue
			}
			n := min(s.cfg.Batch, free*s.cfg.PerConnection)
			leases, err := s.store.Lease(ctx, s.cfg.Owner, s.cfg.Now(), s.cfg.LeaseFor, n)
			if err != nil {
				if ctx.Err() == nil {
					s.cfg.Logger.Error("lease", "err", err)
				}
				break
			}
			for _, g := range s.group(leases) {
				// Renewed from now on: a group may wait for a slot longer
				// than its lease.
				hctx, end := s.hold(ctx, g)
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					// Not started: its leases lapse; the next run's
					// ReleaseOwner takes them back at once.
					end()
					return nil
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-slots }()
					s.deliver(ctx, hctx, g, end)
				}()
			}
			if len(leases) < n {
				break
			}
		}
		timer.Reset(s.cfg.Poll)
	}
}

// group splits leases by recipient domain, then into groups small enough to
// spread one domain's work over several connections.
func (s *Scheduler) group(leases []Lease) [][]*Lease {
	byDomain := map[string][]*Lease{}
	var order []string
	for i := range leases {
		d := leases[i].Domain
		if _, ok := byDomain[d]; !ok {
			order = append(order, d)
		}
		byDomain[d] = append(byDomain[d], &leases[i])
	}
	perDomain := max(1, s.cfg.Workers/max(1, len(order)))
	var groups [][]*Lease
	for _, d := range order {
		ls := byDomain[d]
		size := min(s.cfg.PerConnection, max(1, (len(ls)+perDomain-1)/perDomain))
		for len(ls) > 0 {
			n := min(size, len(ls))
			groups = append(groups, ls[:n])
			ls = ls[n:]
		}
	}
	return groups
}

// deliver hands group to the courier under its renewed leases (hctx,
// hold.go) and records the results, under ctx, once the renewal ended.
func (s *Scheduler) deliver(ctx, hctx context.Context, group []*Lease, end func() []bool) {
	dctx, cancel := context.WithTimeout(hctx, s.cfg.MaxGroupTime)
	results := s.courier.Deliver(dctx, group)
	cancel()
	recorded := end()
	// What the courier said Delivered while it worked is recorded already
	// (early.go): the rest goes on as the group's own results.
	var rest []*Lease
	var restResults []Result
	for i, l := range group {
		if !recorded[i] {
			rest = append(rest, l)
			if i < len(results) {
				restResults = append(restResults, results[i])
			}
		}
	}
	if len(rest) == 0 {
		return
	}
	group, results = rest, restResults
	rs := make([]Result, len(group))
	outs := make([]Outcome, len(group))
	for i, l := range group {
		if i < len(results) {
			rs[i] = results[i]
		} else {
			rs[i] = Result{Verdict: VerdictDeferred, Attempt: Attempt{Response: "no result from courier"}}
		}
		outs[i] = s.outcome(l, rs[i])
		if outs[i].Status == StatusDeferred && rs[i].Attempt.Time.IsZero() && ctx.Err() != nil {
			// Shutdown came before any attempt: due at once for the next
			// run, not a retry step later.
			outs[i].Next = s.cfg.Now()
		}
	}
	s.bounce(ctx, group, outs, rs)
	if s.cfg.OnOutcomes != nil {
		items := make([]BounceItem, len(group))
		for i, l := range group {
			items[i] = BounceItem{Lease: l, Outcome: outs[i], Result: rs[i]}
		}
		s.cfg.OnOutcomes(ctx, items)
	}
	// Deliveries with a delay notice due are recorded once it is stored
	// (notice.go); the others first, so that gathering holds back nothing
	// else.
	due := s.noticesDue(group, outs)
	s.report(ctx, group, outs, rs, func(i int) bool { return !due[i] })
	s.notify(ctx, group, outs, rs, due)
}

// report records the outcomes of the deliveries of group that pick
// chooses, at once (Store.ReportAll), even when ctx ended: the attempts
// happened.
func (s *Scheduler) report(ctx context.Context, group []*Lease, outs []Outcome, rs []Result, pick func(int) bool) {
	var ls []*Lease
	var os []Outcome
	var idx []int
	for i, l := range group {
		if pick(i) {
			ls, os, idx = append(ls, l), append(os, outs[i]), append(idx, i)
		}
	}
	if len(ls) == 0 {
		return
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	errs := s.reportAll(rctx, ls, os)
	rcancel()
	wake := false
	for j, l := range ls {
		o, r, err := os[j], rs[idx[j]], errs[j]
		if errors.Is(err, ErrLeaseLost) {
			s.cfg.Logger.Warn("lease lost before report", "delivery", l.ID)
			continue
		}
		if err != nil {
			s.cfg.Logger.Error("report", "delivery", l.ID, "err", err)
			continue
		}
		if o.Status.Final() && s.cfg.OnFinal != nil {
			s.cfg.OnFinal(ctx, l, o, r)
		}
		if o.Status == StatusDeferred && !o.Next.After(s.cfg.Now()) {
			wake = true
		}
	}
	if wake {
		s.Wake()
	}
}

// reportAll records outcomes (Store.ReportAll), and tries again those the
// store failed to take until ctx ends: a store down for a moment
// (restarted, failing over) would otherwise leave their deliveries leased
// until the leases lapse, held back that long, and a delivered one sent
// again. A lost lease is final: another run has the delivery.
func (s *Scheduler) reportAll(ctx context.Context, ls []*Lease, os []Outcome) []error {
	errs := s.store.ReportAll(ctx, ls, os)
	wait := reportRetryFirst
	for {
		var idx []int
		for i, err := range errs {
			if err != nil && !errors.Is(err, ErrLeaseLost) {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			return errs
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errs
		case <-t.C:
		}
		wait = min(2*wait, reportRetryMax)
		rl, ro := make([]*Lease, len(idx)), make([]Outcome, len(idx))
		for j, i := range idx {
			rl[j], ro[j] = ls[i], os[i]
		}
		for j, err := range s.store.ReportAll(ctx, rl, ro) {
			errs[idx[j]] = err
		}
	}
}

// The pauses between tries of a report the store failed to take: doubling
// from the first to the last.
const (
	reportRetryFirst = 100 * time.Millisecond
	reportRetryMax   = 2 * time.Second
)

// bounce hands the group's bounced deliveries to OnBounce before any is
// recorded, so that "bounced" in the store always has its DSN queued. If
// OnBounce fails they become deferrals until the first retry step: tried
// again, they bounce again, with another go at the DSN.
func (s *Scheduler) bounce(ctx context.Context, group []*Lease, outs []Outcome, rs []Result) {
	if s.cfg.OnBounce == nil {
		return
	}
	var items []BounceItem
	for i, l := range group {
		if outs[i].Status == StatusBounced {
			items = append(items, BounceItem{Lease: l, Outcome: outs[i], Result: rs[i]})
		}
	}
	if len(items) == 0 {
		return
	}
	// Not cancelled by shutdown either: the bounces are about to be recorded.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	err := s.cfg.OnBounce(bctx, items)
	cancel()
	if err == nil {
		return
	}
	s.cfg.Logger.Error("DSNs not queued: bounces deferred", "deliveries", len(items), "err", err)
	now := s.cfg.Now()
	for i, l := range group {
		if outs[i].Status != StatusBounced {
			continue
		}
		// The courier's own attempt, not the expiry note: a later round
		// quotes the recorded reply in its own note.
		outs[i] = Outcome{Status: StatusDeferred, Attempt: rs[i].Attempt,
			Next: now.Add(s.delay(0)), DelayNotified: l.DelayNotified}
	}
}

// outcome turns a courier's result into what the store records.
func (s *Scheduler) outcome(l *Lease, r Result) Outcome {
	now := s.cfg.Now()
	o := Outcome{Attempt: r.Attempt}
	switch r.Verdict {
	case VerdictDelivered:
		o.Status = StatusDelivered
		return o
	case VerdictPermanent:
		o.Status = StatusBounced
		return o
	}
	if !l.Expires.IsZero() && !now.Before(l.Expires) {
		o.Status = StatusBounced
		o.Attempt.Category = "expired"
		if o.Attempt.Time.IsZero() {
			o.Attempt.Time = now
		}
		last := r.Attempt.Response
		if r.Attempt.Time.IsZero() && l.Response != "" {
			// Nothing was attempted now (no usable IP): the last reply is
			// the one recorded before.
			last = l.Response
		}
		o.Attempt.Response = "message expired in queue; last reply: " + last
		return o
	}
	o.Status = StatusDeferred
	if r.Greylisted {
		// Greylisting clears only for the same client IP: keep it.
		o.NextIP = r.Attempt.SourceIP
	}
	// Once delay_notice has passed since the message came in, the sender is
	// told that it is still being retried (RFC 3464 Action: delayed).
	o.DelayNotified = l.DelayNotified ||
		(s.cfg.DelayNotice > 0 && !now.Before(l.Created.Add(s.cfg.DelayNotice)))
	if !r.RetryAt.IsZero() && !r.RetryAt.After(now) {
		// The receiver refused the IP (or asked it to slow down), not the
		// mail, and the courier says another IP may send now: try it.
		// Each such retry adds an IP to the tried ones, so it cannot spin.
		o.Next = now
		return o
	}
	o.Next = now.Add(s.delay(l.Attempts))
	if r.RetryAt.After(now) && r.RetryAt.Before(o.Next) {
		// Every IP was out for the destination (suspended, capped, paced):
		// come back when the first may send, if that is sooner.
		o.Next = r.RetryAt
	}
	if !l.Expires.IsZero() && o.Next.After(l.Expires) {
		// One last attempt when the message expires, rather than none.
		o.Next = l.Expires
	}
	return o
}

// delay is the retry step after attempts earlier attempts, ±10% jitter so
// deliveries deferred together do not come due together.
func (s *Scheduler) delay(attempts int) time.Duration {
	step := s.cfg.Retry[min(attempts, len(s.cfg.Retry)-1)]
	s.mu.Lock()
	j := s.rnd.Float64()*0.2 - 0.1
	s.mu.Unlock()
	return step + time.Duration(float64(step)*j)
}
