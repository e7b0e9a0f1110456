package mongo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"sendpool/internal/queue"
)

// orphanAge is how long a delivery may wait for its message document before
// it is taken for the remains of a Put that died half way and removed.
const orphanAge = 10 * time.Minute

// claimFor is how long the claim of a report, hold, release or retry holds
// its delivery if its writer dies between the claim and the update.
const claimFor = time.Minute

// leaseRounds bounds how often Lease looks again when other nodes won the
// deliveries it tried to claim.
const leaseRounds = 5

var waiting = bson.M{"$in": bson.A{queue.StatusQueued, queue.StatusDeferred}}

// Lease claims up to max due deliveries for owner until now+leaseFor. Each
// claim moves the delivery to its next generation (claims.go) and sets its
// next attempt to the lease's end, so an abandoned lease becomes due again
// by itself and any node takes it over.
func (s *Store) Lease(ctx context.Context, owner string, now time.Time, leaseFor time.Duration, max int) ([]queue.Lease, error) {
	if owner == "" {
		return nil, errors.New("mongodb: lease: empty owner")
	}
	if max <= 0 {
		return nil, nil
	}
	until := ms(now.Add(leaseFor))
	var out []queue.Lease
	for range leaseRounds {
		need := max - len(out)
		// Look at more than needed: some may be orphans, or claimed by
		// another node in the meantime.
		cands, err := s.due(ctx, now, 2*need+16)
		if err != nil {
			return nil, fmt.Errorf("mongodb: lease: %w", err)
		}
		if len(cands) == 0 {
			break
		}
		// Nodes leasing at once read the same window of due work; each
		// taking it in its own random order makes their claims collide
		// less (a lost claim costs a read and a round). The window is
		// small, so the oldest work still goes first.
		rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
		committed, err := s.committed(ctx, cands)
		if err != nil {
			return nil, fmt.Errorf("mongodb: lease: %w", err)
		}
		var steps []step
		for i := range cands {
			c := &cands[i]
			if !committed[c.MessageID] {
				s.orphan(ctx, c)
				continue
			}
			if len(steps) == need {
				break
			}
			steps = append(steps, step{d: c, update: bson.M{"$set": bson.M{
				"owner": owner, "until": until, "next": until, "ok": true}}})
		}
		if len(steps) == 0 {
			break
		}
		applied, err := s.advance(ctx, owner, now, until, steps)
		if err != nil {
			return nil, fmt.Errorf("mongodb: lease: %w", err)
		}
		lost := false
		for i, st := range steps {
			if !applied[i] {
				lost = true
				continue
			}
			d := st.d
			out = append(out, queue.Lease{
				Delivery: queue.Delivery{
					ID: d.ID, MessageID: d.MessageID, Recipient: d.Recipient, Domain: d.Domain,
					Status: d.Status, Attempts: d.Attempts, NextAttempt: local(d.Next),
					TriedIPs: tried(d.Tried), NextIP: d.NextIP, Response: d.Response,
					DelayNotified: d.Notified,
				},
				Owner: owner, Generation: d.Gen + 1, Until: until,
				From: d.From, Account: d.Account, Created: local(d.Created), Expires: local(d.Expires),
				Bounce: d.Bounce, Size: d.Size, TLSOptional: d.TLSOptional,
			})
		}
		if len(out) >= max || !lost {
			break
		}
		// Others took some of the work tried: look again for more.
	}
	return out, nil
}

// due reads up to limit due deliveries. No sort: MongoDB walks the
// (status, next) index and so gives them in time order per status anyway,
// while FerretDB, which scans, would have to read every waiting delivery to
// sort them but can stop at limit without (it gives them in insertion
// order, which is near enough oldest first).
func (s *Store) due(ctx context.Context, now time.Time, limit int) ([]deliveryDoc, error) {
	cur, err := s.deliveries.Find(ctx,
		bson.M{"status": waiting, "next": bson.M{"$lte": ms(now)}},
		options.Find().SetLimit(int64(limit)).SetProjection(bson.M{"log": 0}))
	if err != nil {
		return nil, err
	}
	var out []deliveryDoc
	err = cur.All(ctx, &out)
	return out, err
}

// committed tells, for the messages of deliveries, whether Put finished:
// known for a delivery once leased (OK), otherwise by the message
// document's presence.
func (s *Store) committed(ctx context.Context, ds []deliveryDoc) (map[string]bool, error) {
	out := map[string]bool{}
	var ask []string
	for _, d := range ds {
		if _, seen := out[d.MessageID]; seen {
			continue
		}
		out[d.MessageID] = d.OK
		if !d.OK {
			ask = append(ask, d.MessageID)
		}
	}
	found := make([]bool, len(ask))
	err := each(len(ask), func(i int) error {
		err := s.messages.FindOne(ctx, bson.M{"_id": ask[i]},
			options.FindOne().SetProjection(bson.M{"_id": 1})).Err()
		found[i] = err == nil
		return notFound(err, nil)
	})
	if err != nil {
		return nil, err
	}
	for i, id := range ask {
		out[id] = found[i]
	}
	return out, nil
}

// orphan deals with a due delivery whose message is missing: a Put still
// under way (leave it), or one that died half way (remove what is left
// once old enough).
func (s *Store) orphan(ctx context.Context, d *deliveryDoc) {
	if s.now().Sub(d.Put) < orphanAge {
		return
	}
	s.log.Info("mongodb: removing the remains of an unfinished put", "message", d.MessageID)
	for _, c := range []*mongo.Collection{s.deliveries, s.claims, s.chunks} {
		if err := deleteMany(ctx, c, bson.M{"m": d.MessageID}); err != nil {
			s.log.Warn("mongodb: removing orphans", "collection", c.Name(), "message", d.MessageID, "err", err)
		}
	}
}

// Report records the outcome of a leased delivery and ends the lease, or
// returns queue.ErrLeaseLost when the lease was taken over, released, held
// or the message deleted. Ending the lease is itself a new generation, so a
// report and a takeover racing for the same delivery cannot both win.
func (s *Store) Report(ctx context.Context, l *queue.Lease, o queue.Outcome) error {
	switch o.Status {
	case queue.StatusDelivered, queue.StatusBounced, queue.StatusDeferred, queue.StatusQueued:
	default:
		return fmt.Errorf("mongodb: report %s: bad status %q", l.ID, o.Status)
	}
	now := s.now()
	var next time.Time
	if !o.Status.Final() {
		next = o.Next
		if next.IsZero() {
			next = now
		}
	}
	var d deliveryDoc
	err := s.deliveries.FindOne(ctx, bson.M{"_id": l.ID}).Decode(&d)
	if err != nil {
		if err = notFound(err, queue.ErrLeaseLost); errors.Is(err, queue.ErrLeaseLost) {
			return err
		}
		return fmt.Errorf("mongodb: report %s: %w", l.ID, err)
	}
	if d.Gen != l.Generation || d.Owner != l.Owner || (d.Status != queue.StatusQueued && d.Status != queue.StatusDeferred) {
		return queue.ErrLeaseLost
	}
	if o.Status.Final() {
		return s.finish(ctx, &d, l.Owner, o, now)
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
	applied, err := s.advance(ctx, l.Owner, now, now.Add(claimFor), []step{{d: &d, update: update}})
	if err != nil {
		return fmt.Errorf("mongodb: report %s: %w", l.ID, err)
	}
	if !applied[0] {
		return queue.ErrLeaseLost
	}
	if err := s.refresh(ctx, l.MessageID); err != nil {
		return fmt.Errorf("mongodb: report %s: %w", l.ID, err)
	}
	return nil
}

// finish records the final outcome of leased delivery d (read whole) and
// moves it to done: claim the next generation, write the final state in
// deliveries (so Lease passes it over by its status), copy it to done,
// delete it from deliveries. A crash between the last two leaves the same
// state in both; readers take the one in deliveries.
func (s *Store) finish(ctx context.Context, d *deliveryDoc, owner string, o queue.Outcome, now time.Time) error {
	c := newClaim(d, owner, now.Add(claimFor), 0)
	dup, err := insertClaims(ctx, s.claims, []any{c})
	if err != nil {
		return fmt.Errorf("mongodb: report %s: %w", d.ID, err)
	}
	if dup[0] {
		var ok bool
		if c, ok, err = s.takeExpired(ctx, d, owner, now, now.Add(claimFor)); err != nil {
			return fmt.Errorf("mongodb: report %s: %w", d.ID, err)
		} else if !ok {
			return queue.ErrLeaseLost
		}
	}
	f := *d
	a := o.Attempt
	f.Status, f.Next, f.NextIP, f.Owner, f.Until = o.Status, time.Time{}, o.NextIP, "", time.Time{}
	f.Gen, f.Claim = c.Gen, c.ID
	f.Notified = f.Notified || o.DelayNotified
	if !a.Time.IsZero() || a.Response != "" {
		f.Response = a.Response
	}
	if a.SourceIP != "" {
		f.Tried = append(f.Tried, a.SourceIP)
	}
	if !a.Time.IsZero() {
		f.Attempts++
		f.Log = append(f.Log, newAttemptDoc(a))
	}
	res, err := s.deliveries.ReplaceOne(ctx, bson.M{"_id": d.ID}, f)
	if err != nil {
		return fmt.Errorf("mongodb: report %s: %w", d.ID, err)
	}
	if res.MatchedCount == 0 {
		return queue.ErrLeaseLost // deleted meanwhile
	}
	if _, err := s.done.ReplaceOne(ctx, bson.M{"_id": d.ID}, f, options.Replace().SetUpsert(true)); err != nil {
		return fmt.Errorf("mongodb: report %s: archive: %w", d.ID, err)
	}
	if _, err := s.deliveries.DeleteOne(ctx, bson.M{"_id": d.ID}); err != nil {
		return fmt.Errorf("mongodb: report %s: archive: %w", d.ID, err)
	}
	if d.Rcpts == 1 {
		// The one recipient decides: no other delivery to read. A stale
		// refresh by an earlier generation rereads after it writes, and
		// puts this back.
		err = s.setStatus(ctx, d.MessageID, o.Status, d.Size > int64(s.chunkSize))
	} else {
		err = s.refresh(ctx, d.MessageID)
	}
	if err != nil {
		return fmt.Errorf("mongodb: report %s: %w", d.ID, err)
	}
	return nil
}

// ReleaseOwner ends every lease owner holds; the deliveries are due at once.
func (s *Store) ReleaseOwner(ctx context.Context, owner string) (int, error) {
	n := 0
	for range maxTries {
		cur, err := s.deliveries.Find(ctx, bson.M{"owner": owner, "status": waiting},
			options.Find().SetProjection(bson.M{"m": 1, "gen": 1}))
		if err != nil {
			return n, fmt.Errorf("mongodb: release owner %s: %w", owner, err)
		}
		var ds []deliveryDoc
		if err := cur.All(ctx, &ds); err != nil {
			return n, fmt.Errorf("mongodb: release owner %s: %w", owner, err)
		}
		if len(ds) == 0 {
			return n, nil
		}
		now := s.now()
		steps := make([]step, len(ds))
		for i := range ds {
			steps[i] = step{d: &ds[i],
				update: bson.M{"$set": bson.M{"owner": "", "until": time.Time{}, "next": ms(now)}}}
		}
		applied, err := s.advance(ctx, owner, now, now.Add(claimFor), steps)
		if err != nil {
			return n, fmt.Errorf("mongodb: release owner %s: %w", owner, err)
		}
		for _, ok := range applied {
			if ok {
				n++
			}
		}
	}
	return n, nil
}

// tried gives stored tried IPs as the SQLite store does: nil for none.
func tried(ips []string) []string {
	if len(ips) == 0 {
		return nil
	}
	return ips
}

// Renew extends the leases of ls still held by their owner to
// now+leaseFor. Each renewal claims the delivery's next generation
// (claims.go), so that it cannot interleave with a takeover, a hold or a
// report by anyone else: the one who claims first wins, and the lease that
// lost is reported lost. A renewed lease gets its new generation and end.
func (s *Store) Renew(ctx context.Context, ls []*queue.Lease, now time.Time, leaseFor time.Duration) ([]*queue.Lease, error) {
	if len(ls) == 0 {
		return nil, nil
	}
	until := ms(now.Add(leaseFor))
	var lost []*queue.Lease
	// One owner per call (a node's group); claims are made in its name.
	byOwner := map[string][]*queue.Lease{}
	for _, l := range ls {
		byOwner[l.Owner] = append(byOwner[l.Owner], l)
	}
	for owner, group := range byOwner {
		for len(group) > 0 {
			chunk := group[:min(len(group), maxUpdates)]
			group = group[len(chunk):]
			steps := make([]step, len(chunk))
			for i, l := range chunk {
				steps[i] = step{d: &deliveryDoc{ID: l.ID, MessageID: l.MessageID, Gen: l.Generation},
					update: bson.M{"$set": bson.M{"until": until, "next": until}}}
			}
			applied, err := s.advance(ctx, owner, now, until, steps)
			if err != nil {
				return nil, fmt.Errorf("mongodb: renew: %w", err)
			}
			for i, l := range chunk {
				if !applied[i] {
					lost = append(lost, l)
					continue
				}
				l.Generation++
				l.Until = local(until)
			}
		}
	}
	return lost, nil
}
