package queue

import (
	"context"
)

// DelayItem is one deferred delivery whose delay notice is due, given to
// SchedulerConfig.OnDelay. Outcome is what will be recorded for it.
type DelayItem struct {
	Lease   *Lease
	Outcome Outcome
	Result  Result
}

// noticesDue marks the deliveries of group whose delay notice becomes due
// with this round: deferred, past delay_notice, not yet marked in the store.
// Without OnDelay there is nothing to wait for, and none is marked due: the
// store records DelayNotified with the deferral as it stands.
func (s *Scheduler) noticesDue(group []*Lease, outs []Outcome) []bool {
	due := make([]bool, len(group))
	if s.cfg.OnDelay == nil {
		return due
	}
	for i, l := range group {
		due[i] = outs[i].Status == StatusDeferred && outs[i].DelayNotified && !l.DelayNotified
	}
	return due
}

// notify hands the deliveries marked due to OnDelay and records them only
// once it returned, so that Delivery.DelayNotified in the store always means
// "the notice is stored" (a crash between the two gives the notice twice).
// If OnDelay fails they are recorded unmarked: at their next deferral the
// notice is due again.
func (s *Scheduler) notify(ctx context.Context, group []*Lease, outs []Outcome, rs []Result, due []bool) {
	var items []DelayItem
	for i, l := range group {
		if due[i] {
			items = append(items, DelayItem{Lease: l, Outcome: outs[i], Result: rs[i]})
		}
	}
	if len(items) == 0 {
		return
	}
	// ctx is the scheduler's: its end (shutdown) cuts a gathering short.
	if err := s.cfg.OnDelay(ctx, items); err != nil {
		s.cfg.Logger.Error("delay notices not queued: due again at the next deferral",
			"deliveries", len(items), "err", err)
		for i := range group {
			if due[i] {
				outs[i].DelayNotified = false
			}
		}
	}
	s.report(ctx, group, outs, rs, func(i int) bool { return due[i] })
}
