package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"sendpool/internal/queue"
)

// Report records the outcome of a leased delivery and ends the lease, or
// returns queue.ErrLeaseLost when the lease was taken over, released, held
// or the message deleted. Ending the lease is itself a new generation, so a
// report and a takeover racing for the same delivery cannot both win.
func (s *Store) Report(ctx context.Context, l *queue.Lease, o queue.Outcome) error {
	return s.ReportAll(ctx, []*queue.Lease{l}, []queue.Outcome{o})[0]
}

// ReportAll records the outcomes of leased deliveries, as Report does
// each, in a few commands for them all. It claims each delivery's next
// generation (one insert) and writes its new state (bulk updates on _id):
// the won claim is what proves the lease still held, so nothing is read
// first. The deliveries now final then move to done in three steps: final
// in deliveries (Lease passes them over by their status), copied to done
// (one insert, from the copy this node kept when it leased them,
// leased.go), deleted from deliveries (one bulk delete). A crash between
// the last two leaves the same state in both; readers take the one in
// deliveries. Last, their messages' status (bulk updates where a message
// has one recipient; a refresh where it has more). The calls made at once
// on this node go together (reportqueue.go).
func (s *Store) ReportAll(ctx context.Context, ls []*queue.Lease, os []queue.Outcome) []error {
	return s.reports.do(ctx, ls, os, s.reportNow)
}

// reportNow is ReportAll for one batch.
func (s *Store) reportNow(ctx context.Context, ls []*queue.Lease, os []queue.Outcome) []error {
	errs := make([]error, len(ls))
	byOwner := map[string][]int{}
	var owners []string
	for i, l := range ls {
		switch os[i].Status {
		case queue.StatusDelivered, queue.StatusBounced, queue.StatusDeferred, queue.StatusQueued:
		default:
			errs[i] = fmt.Errorf("mongodb: report %s: bad status %q", l.ID, os[i].Status)
			continue
		}
		if _, ok := byOwner[l.Owner]; !ok {
			owners = append(owners, l.Owner)
		}
		byOwner[l.Owner] = append(byOwner[l.Owner], i)
	}
	for _, owner := range owners { // claims are made in the owner's name
		s.report(ctx, owner, ls, os, byOwner[owner], errs)
	}
	for i, err := range errs {
		if err != nil && !errors.Is(err, queue.ErrLeaseLost) {
			errs[i] = fmt.Errorf("mongodb: report %s: %w", ls[i].ID, err)
		}
	}
	return errs
}

// final is a delivery made final by a report: ls[i], now d.
type final struct {
	i int
	d deliveryDoc
}

// report records the outcomes of ls[idx…], all owner's, setting errs.
func (s *Store) report(ctx context.Context, owner string, ls []*queue.Lease, os []queue.Outcome, idx []int, errs []error) {
	now := s.now()
	steps := make([]step, len(idx))
	for j, i := range idx {
		l := ls[i]
		steps[j] = step{d: &deliveryDoc{ID: l.ID, MessageID: l.MessageID, Gen: l.Generation},
			update: reportUpdate(os[i], now)}
	}
	claims, err := s.advanceClaims(ctx, owner, now, now.Add(claimFor), steps)
	if err != nil {
		for _, i := range idx {
			s.leased.take(ls[i].ID, ls[i].Generation, owner)
			errs[i] = err
		}
		return
	}
	var fins []final
	var reread []int
	refresh := map[string][]int{} // message → items
	for j, i := range idx {
		l, o := ls[i], os[i]
		kept, ok := s.leased.take(l.ID, l.Generation, owner)
		switch {
		case claims[j].ID == "":
			errs[i] = queue.ErrLeaseLost
		case !o.Status.Final():
			refresh[l.MessageID] = append(refresh[l.MessageID], i)
		case ok && len(kept.Log) == kept.Attempts: // its attempt log is whole
			fins = append(fins, final{i: i, d: outcomeDoc(kept, o, claims[j])})
		default:
			reread = append(reread, i)
		}
	}
	if len(reread) > 0 {
		read, err := s.reread(ctx, ls, reread, errs)
		if err != nil {
			for _, i := range reread {
				errs[i] = err
			}
		}
		fins = append(fins, read...)
	}
	fins = s.archive(ctx, fins, errs)
	status := map[string]queue.Status{} // messages of one recipient
	chunked := map[string]bool{}
	for _, f := range fins {
		if f.d.Rcpts == 1 {
			// The one recipient decides: no other delivery to read. A
			// stale refresh by an earlier generation rereads after it
			// writes, and puts this back.
			status[f.d.MessageID] = f.d.Status
			chunked[f.d.MessageID] = f.d.Size > int64(s.chunkSize)
		} else {
			refresh[f.d.MessageID] = append(refresh[f.d.MessageID], f.i)
		}
	}
	if err := s.setStatuses(ctx, status, chunked); err != nil {
		for _, f := range fins {
			if _, ok := status[f.d.MessageID]; ok {
				errs[f.i] = err
			}
		}
	}
	for id, items := range refresh {
		if err := s.refresh(ctx, id); err != nil {
			for _, i := range items {
				errs[i] = err
			}
		}
	}
}

// reread reads back the deliveries ls[idx…] as reported (final), for those
// whose copy this node did not keep; one gone meanwhile is a lease lost.
func (s *Store) reread(ctx context.Context, ls []*queue.Lease, idx []int, errs []error) ([]final, error) {
	ds := make([]*deliveryDoc, len(idx))
	err := each(len(idx), func(j int) error {
		var d deliveryDoc
		err := s.deliveries.FindOne(ctx, bson.M{"_id": ls[idx[j]].ID}).Decode(&d)
		if err == nil {
			ds[j] = &d
		}
		return notFound(err, nil)
	})
	if err != nil {
		return nil, err
	}
	var out []final
	for j, i := range idx {
		if ds[j] == nil {
			errs[i] = queue.ErrLeaseLost // deleted meanwhile
			continue
		}
		out = append(out, final{i: i, d: *ds[j]})
	}
	return out, nil
}

// archive copies fins to done and deletes them from deliveries, and
// returns those archived; the others get their error.
func (s *Store) archive(ctx context.Context, fins []final, errs []error) []final {
	if len(fins) == 0 {
		return nil
	}
	docs := make([]any, len(fins))
	for j, f := range fins {
		docs[j] = f.d
	}
	var ok []final
	for j, err := range insertAll(ctx, s.done, docs, false) {
		if err != nil && isDup(err) {
			// A copy left by a crash before the delete: replace it.
			_, err = s.done.ReplaceOne(ctx, bson.M{"_id": fins[j].d.ID}, fins[j].d, options.Replace().SetUpsert(true))
		}
		if err != nil {
			errs[fins[j].i] = fmt.Errorf("archive: %w", err)
			continue
		}
		ok = append(ok, fins[j])
	}
	if len(ok) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, len(ok))
	for j, f := range ok {
		models[j] = mongo.NewDeleteOneModel().SetFilter(bson.M{"_id": f.d.ID})
	}
	if _, err := s.deliveries.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		for _, f := range ok {
			errs[f.i] = fmt.Errorf("archive: %w", err)
		}
		return nil
	}
	return ok
}

// setStatuses writes the status of messages of one recipient (bulk
// updates); a final one drops its body and notes when (setStatus).
func (s *Store) setStatuses(ctx context.Context, status map[string]queue.Status, chunked map[string]bool) error {
	if len(status) == 0 {
		return nil
	}
	var models []mongo.WriteModel
	for id, st := range status {
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": id}).SetUpdate(s.statusUpdate(st)))
	}
	if _, err := bulkUpdate(ctx, s.messages, models); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	for id, st := range status {
		if st.Final() && chunked[id] {
			if err := deleteMany(ctx, s.chunks, bson.M{"m": id}); err != nil {
				return fmt.Errorf("drop body: %w", err)
			}
		}
	}
	return nil
}

// reportUpdate is the update of a delivery that records o and ends its
// lease.
func reportUpdate(o queue.Outcome, now time.Time) bson.M {
	var next time.Time
	if !o.Status.Final() {
		next = o.Next
		if next.IsZero() {
			next = now
		}
	}
	a := o.Attempt
	attempted := !a.Time.IsZero()
	set := bson.M{"status": o.Status, "next": ms(next), "next_ip": o.NextIP, "owner": "", "until": time.Time{}}
	if o.DelayNotified {
		set["notified"] = true
	}
	if attempted || a.Response != "" {
		set["resp"] = a.Response
	}
	update := bson.M{"$set": set}
	push := bson.M{}
	if a.SourceIP != "" {
		push["tried"] = a.SourceIP
	}
	if attempted {
		push["log"] = newAttemptDoc(a)
		update["$inc"] = bson.M{"attempts": 1}
	}
	if len(push) > 0 {
		update["$push"] = push
	}
	return update
}

// outcomeDoc is d (whole, as leased) once reportUpdate(o) applied under
// claim c: what the update left in deliveries.
func outcomeDoc(d deliveryDoc, o queue.Outcome, c claimDoc) deliveryDoc {
	a := o.Attempt
	d.Status, d.Next, d.NextIP, d.Owner, d.Until = o.Status, time.Time{}, o.NextIP, "", time.Time{}
	d.Gen, d.Claim = c.Gen, c.ID
	d.Notified = d.Notified || o.DelayNotified
	if !a.Time.IsZero() || a.Response != "" {
		d.Response = a.Response
	}
	d.Tried = slices.Clone(d.Tried)
	if d.Tried == nil {
		d.Tried = []string{}
	}
	if a.SourceIP != "" {
		d.Tried = append(d.Tried, a.SourceIP)
	}
	if !a.Time.IsZero() {
		d.Attempts++
		d.Log = append(slices.Clone(d.Log), newAttemptDoc(a))
	}
	return d
}
