package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"sendpool/internal/queue"
)

// ListMessages lists messages newest first. Ids sort by creation time
// (queue.NewID), so Before pages on _id.
func (s *Store) ListMessages(ctx context.Context, f queue.Filter) ([]queue.MessageSummary, error) {
	limit := f.PageSize()
	filter := bson.M{}
	if f.Status != "" {
		filter["status"] = f.Status
	}
	if f.Account != "" {
		filter["account"] = f.Account
	}
	if f.Before != "" {
		filter["_id"] = bson.M{"$lt": f.Before}
	}
	cur, err := s.messages.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit)).SetProjection(bson.M{"body": 0, "intake": 0}))
	if err != nil {
		return nil, fmt.Errorf("mongodb: list messages: %w", err)
	}
	var docs []messageDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongodb: list messages: %w", err)
	}
	out := make([]queue.MessageSummary, len(docs))
	for i, d := range docs {
		out[i] = summary(&d)
	}
	return out, nil
}

func summary(d *messageDoc) queue.MessageSummary {
	return queue.MessageSummary{ID: d.ID, Account: d.Account, From: d.From, Size: d.Size,
		Created: local(d.Created), Status: d.Status, Recipients: d.Rcpts}
}

// GetMessage returns a message with its recipients in order and each
// recipient's attempts in time order.
func (s *Store) GetMessage(ctx context.Context, id string) (*queue.MessageDetail, error) {
	var m messageDoc
	err := s.messages.FindOne(ctx, bson.M{"_id": id}, options.FindOne().SetProjection(bson.M{"body": 0})).Decode(&m)
	if err != nil {
		if err = notFound(err, queue.ErrNotFound); errors.Is(err, queue.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("mongodb: get message %s: %w", id, err)
	}
	ds, err := s.deliveriesOf(ctx, id, m.Rcpts, nil)
	if err != nil {
		return nil, fmt.Errorf("mongodb: get message %s: %w", id, err)
	}
	out := &queue.MessageDetail{MessageSummary: summary(&m), Expires: local(m.Expires), Intake: m.Intake.intake()}
	for _, d := range ds {
		r := queue.RecipientDetail{Address: d.Recipient, Status: d.Status, Response: d.Response,
			Attempts: make([]queue.Attempt, len(d.Log))}
		if d.Status == queue.StatusQueued || d.Status == queue.StatusDeferred {
			r.NextAttempt = local(d.Next)
		}
		for i, a := range d.Log {
			r.Attempts[i] = a.attempt()
		}
		slices.SortStableFunc(r.Attempts, func(a, b queue.Attempt) int { return a.Time.Compare(b.Time) })
		out.Recipients = append(out.Recipients, r)
	}
	return out, nil
}

// deliveriesOf reads a message of rcpts recipients' deliveries, in
// recipient order, with fields (nil: all). Their ids are known, so a few
// are read one by one (FerretDB answers only an _id filter without a scan)
// and more with one $in.
func (s *Store) deliveriesOf(ctx context.Context, messageID string, rcpts int, fields bson.M) ([]deliveryDoc, error) {
	ids := make([]string, rcpts)
	for i := range ids {
		ids[i] = messageID + "/" + strconv.Itoa(i)
	}
	if rcpts <= pointReads {
		ds := make([]deliveryDoc, rcpts)
		found := make([]bool, rcpts)
		err := each(rcpts, func(i int) error {
			o := options.FindOne()
			if fields != nil {
				o.SetProjection(fields)
			}
			err := s.deliveries.FindOne(ctx, bson.M{"_id": ids[i]}, o).Decode(&ds[i])
			if errors.Is(err, mongo.ErrNoDocuments) {
				err = s.done.FindOne(ctx, bson.M{"_id": ids[i]}, o).Decode(&ds[i])
			}
			found[i] = err == nil
			return notFound(err, nil)
		})
		if err != nil {
			return nil, err
		}
		out := ds[:0]
		for i, d := range ds {
			if found[i] {
				out = append(out, d)
			}
		}
		return out, nil
	}
	o := options.Find().SetSort(bson.D{{Key: "idx", Value: 1}})
	if fields != nil {
		o.SetProjection(fields)
	}
	byID := map[string]deliveryDoc{}
	for _, c := range []*mongo.Collection{s.done, s.deliveries} { // deliveries' copy wins
		cur, err := c.Find(ctx, bson.M{"_id": bson.M{"$in": ids}}, o)
		if err != nil {
			return nil, err
		}
		var ds []deliveryDoc
		if err := cur.All(ctx, &ds); err != nil {
			return nil, err
		}
		for _, d := range ds {
			byID[d.ID] = d
		}
	}
	out := make([]deliveryDoc, 0, len(byID))
	for _, id := range ids {
		if d, ok := byID[id]; ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// pointReads is how many recipients deliveriesOf reads one by one.
const pointReads = 4

// Counts returns the number of deliveries in each status; every status is
// present, zero or not.
func (s *Store) Counts(ctx context.Context) (map[queue.Status]int, error) {
	out := map[queue.Status]int{}
	for _, st := range []queue.Status{queue.StatusQueued, queue.StatusDeferred, queue.StatusHeld,
		queue.StatusDelivered, queue.StatusBounced} {
		out[st] = 0
	}
	for _, c := range []*mongo.Collection{s.deliveries, s.done} {
		cur, err := c.Aggregate(ctx, bson.A{
			bson.M{"$group": bson.M{"_id": "$status", "n": bson.M{"$sum": 1}}},
		})
		if err != nil {
			return nil, fmt.Errorf("mongodb: counts: %w", err)
		}
		var rows []struct {
			Status queue.Status `bson:"_id"`
			N      int          `bson:"n"`
		}
		if err := cur.All(ctx, &rows); err != nil {
			return nil, fmt.Errorf("mongodb: counts: %w", err)
		}
		// (A finished delivery whose move to done was cut short by a
		// crash counts twice, until it is deleted.)
		for _, r := range rows {
			out[r.Status] += r.N
		}
	}
	return out, nil
}

// Hold stops attempts on a message's unfinished deliveries. A delivery
// being attempted loses its lease (new generation), so the worker's Report
// is refused and cannot undo the hold.
func (s *Store) Hold(ctx context.Context, id string) error {
	return s.change(ctx, "hold", id, holdable, hold)
}

// Release makes a message's held deliveries due now: queued if never
// tried, deferred otherwise.
func (s *Store) Release(ctx context.Context, id string) error {
	return s.change(ctx, "release", id, held, s.release)
}

// Retry makes a message's waiting deliveries due now. Leased ones are left
// to their worker.
func (s *Store) Retry(ctx context.Context, id string) error {
	now := ms(s.now())
	return s.change(ctx, "retry", id,
		func(d *deliveryDoc) bool { return isWaiting(d.Status) && d.Owner == "" && d.Next.After(now) },
		func(d *deliveryDoc) bson.M { return bson.M{"$set": bson.M{"next": now}} })
}

func isWaiting(st queue.Status) bool { return st == queue.StatusQueued || st == queue.StatusDeferred }

func holdable(d *deliveryDoc) bool { return isWaiting(d.Status) }

func held(d *deliveryDoc) bool { return d.Status == queue.StatusHeld }

func hold(*deliveryDoc) bson.M {
	return bson.M{"$set": bson.M{"status": queue.StatusHeld, "owner": "", "until": time.Time{}}}
}

func (s *Store) release(d *deliveryDoc) bson.M {
	st := queue.StatusQueued
	if d.Attempts > 0 {
		st = queue.StatusDeferred
	}
	return bson.M{"$set": bson.M{"status": st, "next": ms(s.now())}}
}

// change applies update to a message's deliveries that match (see
// changeMessage); queue.ErrNotFound if there is no such message.
func (s *Store) change(ctx context.Context, what, id string, match func(*deliveryDoc) bool, update func(*deliveryDoc) bson.M) error {
	var m messageDoc
	err := s.messages.FindOne(ctx, bson.M{"_id": id}, options.FindOne().SetProjection(bson.M{"rcpts": 1})).Decode(&m)
	if err != nil {
		if err = notFound(err, queue.ErrNotFound); errors.Is(err, queue.ErrNotFound) {
			return err
		}
		return fmt.Errorf("mongodb: %s %s: %w", what, id, err)
	}
	if _, err := s.changeMessage(ctx, id, m.Rcpts, match, update); err != nil {
		return fmt.Errorf("mongodb: %s %s: %w", what, id, err)
	}
	return nil
}

// changeMessage applies update to each of a message's deliveries that
// match, each as a new generation, then refreshes the message's status. A
// delivery claimed by someone else at the same moment is read again and
// retried. It returns how many deliveries it changed.
func (s *Store) changeMessage(ctx context.Context, id string, rcpts int, match func(*deliveryDoc) bool, update func(*deliveryDoc) bson.M) (int, error) {
	n := 0
	for try := 0; ; try++ {
		all, err := s.deliveriesOf(ctx, id, rcpts, bson.M{"log": 0})
		if err != nil {
			return n, err
		}
		var ds []deliveryDoc
		for _, d := range all {
			if match(&d) {
				ds = append(ds, d)
			}
		}
		if len(ds) == 0 {
			break
		}
		if try == maxTries {
			return n, fmt.Errorf("%d deliveries kept changing", len(ds))
		}
		now := s.now()
		steps := make([]step, len(ds))
		for i := range ds {
			steps[i] = step{d: &ds[i], update: update(&ds[i])}
		}
		applied, err := s.advance(ctx, "", now, now.Add(claimFor), steps)
		if err != nil {
			return n, err
		}
		for _, ok := range applied {
			if ok {
				n++
			}
		}
		if !slices.Contains(applied, false) {
			break
		}
	}
	if n == 0 {
		return 0, nil
	}
	return n, s.refresh(ctx, id)
}

// Delete removes a message and everything of it. The message document
// goes last, so that a Delete cut short leaves it to be deleted again.
// A worker delivering one of its deliveries has its Report refused.
func (s *Store) Delete(ctx context.Context, id string) error {
	s.bodies.Forget(id)
	if err := s.messages.FindOne(ctx, bson.M{"_id": id},
		options.FindOne().SetProjection(bson.M{"_id": 1})).Err(); err != nil {
		if err = notFound(err, queue.ErrNotFound); errors.Is(err, queue.ErrNotFound) {
			return err
		}
		return fmt.Errorf("mongodb: delete %s: %w", id, err)
	}
	for _, c := range []*mongo.Collection{s.deliveries, s.done, s.claims, s.chunks} {
		if err := deleteMany(ctx, c, bson.M{"m": id}); err != nil {
			return fmt.Errorf("mongodb: delete %s: %s: %w", id, c.Name(), err)
		}
	}
	res, err := s.messages.DeleteOne(ctx, bson.M{"_id": id})
	if err != nil {
		return fmt.Errorf("mongodb: delete %s: %w", id, err)
	}
	if res.DeletedCount == 0 {
		return queue.ErrNotFound // deleted by another meanwhile
	}
	return nil
}

func deleteMany(ctx context.Context, c *mongo.Collection, filter bson.M) error {
	_, err := c.DeleteMany(ctx, filter)
	return err
}

// refresh recomputes a message's summary status from its deliveries, and
// drops the body once every delivery is final: a bounce's DSN was built from
// it before the bounce was recorded (queue.SchedulerConfig.OnBounce), as in
// the SQLite store. Refreshes of one message run concurrently (one per recipient
// reported), each may have read the deliveries before another's change, so
// each reads again after writing until what is stored agrees with what the
// deliveries say: the last to write has then checked after its write.
func (s *Store) refresh(ctx context.Context, id string) error {
	for range 4 * maxTries {
		var m messageDoc
		err := s.messages.FindOne(ctx, bson.M{"_id": id},
			options.FindOne().SetProjection(bson.M{"status": 1, "dropped": 1, "chunks": 1, "rcpts": 1})).Decode(&m)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("refresh status: %w", err)
		}
		ds, err := s.deliveriesOf(ctx, id, m.Rcpts, bson.M{"status": 1})
		if err != nil {
			return fmt.Errorf("refresh status: %w", err)
		}
		statuses := make([]queue.Status, len(ds))
		for i, d := range ds {
			statuses[i] = d.Status
		}
		st := queue.Summarize(statuses)
		drop := st.Final() && !m.Dropped
		if st == m.Status && !drop {
			return nil
		}
		if err := s.setStatus(ctx, id, st, m.Chunks > 0); err != nil {
			return err
		}
	}
	return errors.New("refresh status: the deliveries keep changing")
}

// setStatus writes a message's summary status; once final, it drops the
// body and notes when (finished, which Purge goes by).
func (s *Store) setStatus(ctx context.Context, id string, st queue.Status, chunked bool) error {
	if st.Final() {
		s.bodies.Forget(id) // dropped: no delivery will read it
	}
	if _, err := s.messages.UpdateOne(ctx, bson.M{"_id": id}, s.statusUpdate(st)); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if st.Final() && chunked {
		if err := deleteMany(ctx, s.chunks, bson.M{"m": id}); err != nil {
			return fmt.Errorf("drop body: %w", err)
		}
	}
	return nil
}

// statusUpdate is the update of a message's summary status to st (setStatus).
func (s *Store) statusUpdate(st queue.Status) bson.M {
	update := bson.M{"$set": bson.M{"status": st}}
	if st.Final() {
		update["$set"].(bson.M)["dropped"] = true
		update["$set"].(bson.M)["finished"] = ms(s.now())
		update["$unset"] = bson.M{"body": ""}
	}
	return update
}
