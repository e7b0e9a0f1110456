package mongo

import (
	"context"
	"errors"
	"fmt"
	"maps"
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

// ownFirstFor is how long a node leases the mail it put before the mail
// other nodes put (ownFirst).
const ownFirstFor = 10 * time.Second

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
	s.leased.forget(now)
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
		// Nodes leasing at once read the same window of due work (the
		// oldest); each taking it in its own random order, and of the
		// newest what it put itself first (ownFirst), makes their claims
		// collide less (a lost claim costs a read and a round).
		rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
		cands = s.ownFirst(cands, now)
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
		claims, err := s.advanceClaims(ctx, owner, now, until, steps)
		if err != nil {
			return nil, fmt.Errorf("mongodb: lease: %w", err)
		}
		lost := false
		for i, st := range steps {
			if claims[i].ID == "" {
				lost = true
				continue
			}
			d := st.d
			kept := *d
			kept.Owner, kept.Until, kept.Next, kept.OK = owner, until, until, true
			kept.Gen, kept.Claim = claims[i].Gen, claims[i].ID
			s.leased.keep(kept)
			out = append(out, queue.Lease{
				Delivery: queue.Delivery{
					ID: d.ID, MessageID: d.MessageID, Recipient: d.Recipient, Domain: d.Domain,
					Status: d.Status, Attempts: d.Attempts, NextAttempt: local(d.Next),
					TriedIPs: tried(d.Tried), NextIP: d.NextIP, Response: d.Response,
					DelayNotified: d.Notified,
				},
				Owner: owner, Generation: d.Gen + 1, Until: until,
				From: d.From, Account: d.Account, Created: local(d.Created), Expires: local(d.Expires),
				Bounce: d.Bounce, Size: d.Size, TLSOptional: d.TLSOptional, HeaderID: d.HeaderID,
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

// ownFirst orders ds, keeping each part's order: first those put
// ownFirstFor ago or more (retries, and whatever a stopped node left),
// then those this node put lately (in rounds it committed), then those
// other nodes did, which are theirs to lease first.
func (s *Store) ownFirst(ds []deliveryDoc, now time.Time) []deliveryDoc {
	var old, own, rest []deliveryDoc
	for _, d := range ds {
		switch {
		case now.Sub(d.Put) >= ownFirstFor:
			old = append(old, d)
		case d.Round != "" && s.own.has(d.Round):
			own = append(own, d)
		default:
			rest = append(rest, d)
		}
	}
	return append(append(old, own...), rest...)
}

// committed tells, for the messages of deliveries, whether Put finished:
// known for a delivery once leased (OK), or whose round this node
// committed (ownRounds); otherwise by its round's last message (commit.go),
// one read a round; otherwise, for a delivery whose round has not
// committed within commitWait or that names none, by its own message's
// presence.
func (s *Store) committed(ctx context.Context, ds []deliveryDoc) (map[string]bool, error) {
	rounds, unknown := map[string]bool{}, map[string]bool{}
	for _, d := range ds {
		if !d.OK && d.Round != "" {
			if s.own.has(d.Round) {
				rounds[d.Round] = true
			} else {
				unknown[d.Round] = false
			}
		}
	}
	if err := s.present(ctx, unknown); err != nil {
		return nil, err
	}
	maps.Copy(rounds, unknown)
	now := s.now()
	out := map[string]bool{}
	ask := map[string]bool{}
	for _, d := range ds {
		switch {
		case d.OK || rounds[d.Round]:
			out[d.MessageID] = true
		case d.Round != "" && now.Sub(d.Put) < commitWait:
			if _, seen := out[d.MessageID]; !seen {
				out[d.MessageID] = false // its Put is under way, most likely
			}
		default:
			ask[d.MessageID] = false
		}
	}
	for id := range out {
		delete(ask, id)
	}
	if err := s.present(ctx, ask); err != nil {
		return nil, err
	}
	for id, ok := range ask {
		out[id] = ok
	}
	return out, nil
}

// present sets, for each message id in ids, whether its document exists:
// a point read each, at most parallel at once.
func (s *Store) present(ctx context.Context, ids map[string]bool) error {
	list := make([]string, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	found := make([]bool, len(list))
	err := each(len(list), func(i int) error {
		err := s.messages.FindOne(ctx, bson.M{"_id": list[i]},
			options.FindOne().SetProjection(bson.M{"_id": 1})).Err()
		found[i] = err == nil
		return notFound(err, nil)
	})
	if err != nil {
		return err
	}
	for i, id := range list {
		ids[id] = found[i]
	}
	return nil
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
			claims, err := s.advanceClaims(ctx, owner, now, until, steps)
			if err != nil {
				return nil, fmt.Errorf("mongodb: renew: %w", err)
			}
			for i, l := range chunk {
				if claims[i].ID == "" {
					lost = append(lost, l)
					continue
				}
				s.leased.renewed(l.ID, l.Generation, claims[i], until)
				l.Generation = claims[i].Gen
				l.Until = local(until)
			}
		}
	}
	return lost, nil
}
