package sqlite

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/webhook"
)

// Append stores the records' events and their sends in one transaction
// (one fsync, shared with whatever else the writer commits) and fills in
// each Event.Seq.
func (s *Store) Append(ctx context.Context, recs []webhook.Record) error {
	if len(recs) == 0 {
		return nil
	}
	seqs := make([]int64, len(recs))
	if err := s.write(ctx, appendOp(recs, seqs)); err != nil {
		return fmt.Errorf("sqlite: append events: %w", err)
	}
	for i := range recs {
		recs[i].Event.Seq = seqs[i]
	}
	return nil
}

// PutWithEvents is Put and Append in one transaction: the message and the
// events that report it are stored together or not at all, at the cost of
// one commit (webhook.Emitter.Queue uses it for accepted events).
func (s *Store) PutWithEvents(ctx context.Context, m *queue.Message, recs []webhook.Record) error {
	put, err := s.putOp(m)
	if err != nil {
		return err
	}
	seqs := make([]int64, len(recs))
	app := appendOp(recs, seqs)
	// New mail: refused, as Put is, when the disk is down to its reserve.
	if err := s.writeGrowing(ctx, func(tx *writeTx) error {
		if err := put(tx); err != nil {
			return err
		}
		return app(tx)
	}); err != nil {
		return fmt.Errorf("sqlite: put %s: %w", m.ID, err)
	}
	s.keepBody(m)
	for i := range recs {
		recs[i].Event.Seq = seqs[i]
	}
	return nil
}

// appendOp is Append's write of recs, the seqs it assigns going to seqs.
func appendOp(recs []webhook.Record, seqs []int64) func(tx *writeTx) error {
	return func(tx *writeTx) error {
		for i := range recs {
			ev := &recs[i].Event
			res, err := tx.Exec(`INSERT INTO webhook_events (id, type, time, account, message_id, key, body, commit_id)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ev.ID, string(ev.Type), ms(ev.Time), ev.Account, ev.MessageID,
				ev.Key, ev.Body, ev.Commit)
			if err != nil {
				return err
			}
			if seqs[i], err = res.LastInsertId(); err != nil {
				return err
			}
			for _, ep := range recs[i].Targets {
				// An endpoint deleted since the caller listed them gets nothing.
				_, err := tx.Exec(`INSERT INTO webhook_sends (endpoint, seq, key, time, next)
					SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = ?)`,
					ep, seqs[i], ev.Key, ms(ev.Time), ms(ev.Time), ep)
				if err != nil {
					return err
				}
			}
		}
		return nil
	}
}

const eventColumns = `seq, id, type, time, account, message_id, key, body, commit_id`

func scanEvent(row interface{ Scan(...any) error }) (webhook.Event, error) {
	var ev webhook.Event
	var typ string
	var t int64
	var body ownedBytes
	err := row.Scan(&ev.Seq, &ev.ID, &typ, &t, &ev.Account, &ev.MessageID, &ev.Key, &body, &ev.Commit)
	ev.Type, ev.Time, ev.Body = webhook.Type(typ), fromMS(t), body
	return ev, err
}

// Feed returns up to limit events after the cursor, of account ("" for
// all), stopping before one whose message is not stored yet.
func (s *Store) Feed(ctx context.Context, after int64, account string, limit int, now time.Time) ([]webhook.Event, int64, error) {
	if limit <= 0 {
		return nil, after, nil
	}
	q := `SELECT ` + eventColumns + ` FROM webhook_events WHERE seq > ? ORDER BY seq LIMIT ?`
	args := []any{after, limit}
	if account != "" {
		q = `SELECT ` + eventColumns + ` FROM webhook_events WHERE account = ? AND seq > ? ORDER BY seq LIMIT ?`
		args = []any{account, after, limit}
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, after, fmt.Errorf("sqlite: feed: %w", err)
	}
	var evs []webhook.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			rows.Close()
			return nil, after, fmt.Errorf("sqlite: feed: %w", err)
		}
		evs = append(evs, ev)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, after, fmt.Errorf("sqlite: feed: %w", err)
	}
	out := []webhook.Event{}
	next := after
	for _, ev := range evs {
		if ev.Commit != "" {
			var one int
			switch err := s.queryRow(ctx, `SELECT 1 FROM messages WHERE id = ?`, ev.Commit).Scan(&one); {
			case err == nil:
				ev.Commit = ""
			case errNoRows(err, nil) != nil:
				return nil, after, fmt.Errorf("sqlite: feed: %w", err)
			case now.Sub(ev.Time) < webhook.SettleWithin:
				return out, next, nil // Put may be in flight: nothing after it yet
			default:
				next = ev.Seq // never stored: not an event
				continue
			}
		}
		out = append(out, ev)
		next = ev.Seq
	}
	return out, next, nil
}

// Claim claims, for each endpoint in room, up to its room of due sends that
// head their key's line (no earlier send of the same key to the same
// endpoint is left), oldest first. The claim is a generation: owner and
// gen, checked by Finish; next moves to the lease's end, so a claim whose
// node dies comes due again by itself.
func (s *Store) Claim(ctx context.Context, owner string, now time.Time, leaseFor time.Duration, room map[string]int) ([]webhook.Send, error) {
	var out []webhook.Send
	until := now.Add(leaseFor)
	err := s.write(ctx, func(tx *writeTx) error {
		out = out[:0]
		for ep, n := range room {
			if n <= 0 {
				continue
			}
			got, err := claimEndpoint(tx, ep, n, owner, now, until)
			if err != nil {
				return err
			}
			out = append(out, got...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim sends: %w", err)
	}
	return out, nil
}

func claimEndpoint(tx *writeTx, ep string, n int, owner string, now, until time.Time) ([]webhook.Send, error) {
	rows, err := tx.Query(`SELECT s.attempts, s.gen, e.seq, e.id, e.type, e.time, e.account, e.message_id, e.key, e.body, e.commit_id
		FROM webhook_sends s JOIN webhook_events e ON e.seq = s.seq
		WHERE s.endpoint = ? AND s.next <= ? AND NOT EXISTS (SELECT 1 FROM webhook_sends p
			WHERE p.endpoint = s.endpoint AND p.key = s.key AND p.seq < s.seq)
		ORDER BY s.seq LIMIT ?`, ep, ms(now), 2*n+16)
	if err != nil {
		return nil, err
	}
	type cand struct {
		attempts int
		gen      int64
		ev       webhook.Event
	}
	var cands []cand
	for rows.Next() {
		var c cand
		var body ownedBytes
		var typ string
		var t int64
		if err := rows.Scan(&c.attempts, &c.gen, &c.ev.Seq, &c.ev.ID, &typ, &t, &c.ev.Account,
			&c.ev.MessageID, &c.ev.Key, &body, &c.ev.Commit); err != nil {
			rows.Close()
			return nil, err
		}
		c.ev.Type, c.ev.Time, c.ev.Body = webhook.Type(typ), fromMS(t), body
		cands = append(cands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []webhook.Send
	for _, c := range cands {
		if len(out) == n {
			break
		}
		if c.ev.Commit != "" {
			verdict, err := settle(tx, c.ev.Seq, c.ev.Commit, c.ev.Time, now)
			if err != nil {
				return nil, err
			}
			if verdict != "ok" {
				continue
			}
			c.ev.Commit = ""
		}
		gen := c.gen + 1
		_, err := tx.Exec(`UPDATE webhook_sends SET owner = ?, gen = ?, next = ? WHERE endpoint = ? AND seq = ?`,
			owner, gen, ms(until), ep, c.ev.Seq)
		if err != nil {
			return nil, err
		}
		out = append(out, webhook.Send{
			ID: sendID(ep, c.ev.Seq), Endpoint: ep, Event: c.ev, Attempts: c.attempts,
			Owner: owner, Until: until, Claim: strconv.FormatInt(gen, 10),
		})
	}
	return out, nil
}

// sendID names a send in the API and the log.
func sendID(ep string, seq int64) string { return ep + "/" + strconv.FormatInt(seq, 10) }

// Finish records a claimed send's outcome if the claim is still current.
func (s *Store) Finish(ctx context.Context, snd *webhook.Send, o webhook.Outcome) error {
	gen, err := strconv.ParseInt(snd.Claim, 10, 64)
	if err != nil {
		return fmt.Errorf("sqlite: finish %s: bad claim %q", snd.ID, snd.Claim)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		if o.Done {
			res, err := tx.Exec(`DELETE FROM webhook_sends WHERE endpoint = ? AND seq = ? AND owner = ? AND gen = ?`,
				snd.Endpoint, snd.Event.Seq, snd.Owner, gen)
			return affected(res, err, webhook.ErrLeaseLost)
		}
		res, err := tx.Exec(`UPDATE webhook_sends SET attempts = attempts + 1, next = ?, owner = '', gen = gen + 1
			WHERE endpoint = ? AND seq = ? AND owner = ? AND gen = ?`,
			ms(o.Next), snd.Endpoint, snd.Event.Seq, snd.Owner, gen)
		return affected(res, err, webhook.ErrLeaseLost)
	})
	if err != nil && err != webhook.ErrLeaseLost {
		return fmt.Errorf("sqlite: finish %s: %w", snd.ID, err)
	}
	return err
}

// Pending counts the sends not yet done.
func (s *Store) Pending(ctx context.Context) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT count(*) FROM webhook_sends`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: pending sends: %w", err)
	}
	return n, nil
}

// GiveUp removes up to limit sends of events older than before.
func (s *Store) GiveUp(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.deleteSome(ctx, "give up sends", `DELETE FROM webhook_sends WHERE (endpoint, seq) IN (
		SELECT endpoint, seq FROM webhook_sends WHERE time < ? LIMIT ?)`, ms(before), limit)
}

// PurgeEvents deletes the oldest events, up to limit, as long as they are
// older than before: the walk is by seq and stops at the first newer one.
func (s *Store) PurgeEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *writeTx) error {
		rows, err := tx.Query(`SELECT seq, time FROM webhook_events ORDER BY seq LIMIT ?`, limit)
		if err != nil {
			return err
		}
		last := int64(-1)
		for rows.Next() {
			var seq, t int64
			if err := rows.Scan(&seq, &t); err != nil {
				rows.Close()
				return err
			}
			if t >= ms(before) {
				break
			}
			last = seq
		}
		rows.Close()
		if err := rows.Err(); err != nil || last < 0 {
			return err
		}
		res, err := tx.Exec(`DELETE FROM webhook_events WHERE seq <= ?`, last)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge events: %w", err)
	}
	return int(n), nil
}

func (s *Store) deleteSome(ctx context.Context, what, q string, args ...any) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *writeTx) error {
		res, err := tx.Exec(q, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return int(n), nil
}

// Repair has nothing to do: Append is one transaction. Events whose message
// never came are voided by Claim, and skipped by Feed, once SettleWithin
// has passed; this sweeps those nobody claimed.
func (s *Store) Repair(ctx context.Context, now time.Time) error {
	return s.settleBefore(ctx, now.Add(-webhook.SettleWithin), now)
}

// SettleAll decides every event still waiting for its message, at once: a
// node calls it at start, before intake runs, when no Put can be in flight
// (one node to an embedded database), so that the feed does not wait
// SettleWithin at an event a crash cut off from its Put.
func (s *Store) SettleAll(ctx context.Context) error {
	now := time.Now()
	return s.settleBefore(ctx, now.Add(time.Hour), now.Add(time.Hour+webhook.SettleWithin))
}

// settleBefore settles the waiting events written before cutoff, judging
// them at now.
func (s *Store) settleBefore(ctx context.Context, cutoff, now time.Time) error {
	type waiting struct {
		seq    int64
		commit string
		t      time.Time
	}
	for ctx.Err() == nil {
		var batch []waiting
		rows, err := s.query(ctx, `SELECT seq, commit_id, time FROM webhook_events WHERE commit_id != '' AND time < ? LIMIT 1000`,
			ms(cutoff))
		if err != nil {
			return fmt.Errorf("sqlite: settle events: %w", err)
		}
		for rows.Next() {
			var seq, t int64
			var c string
			if err := rows.Scan(&seq, &c, &t); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: settle events: %w", err)
			}
			batch = append(batch, waiting{seq, c, fromMS(t)})
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(batch) == 0 {
			return err
		}
		err = s.write(ctx, func(tx *writeTx) error {
			for _, e := range batch {
				if _, err := settle(tx, e.seq, e.commit, e.t, now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("sqlite: settle events: %w", err)
		}
		if len(batch) < 1000 {
			return nil
		}
	}
	return ctx.Err()
}
