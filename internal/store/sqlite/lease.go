package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"sendpool/internal/queue"
)

// leaseQuery finds due deliveries. Its WHERE repeats the partial index's
// condition word for word so that deliveries_due can serve it, and INDEXED BY
// makes sure it does (the planner, without statistics, prefers
// deliveries_status, which scans every waiting row).
const leaseQuery = `
SELECT d.id, d.message_id, d.recipient, d.domain, d.status, d.attempts,
       d.next_attempt, d.tried_ips, d.next_ip, d.response, d.generation, d.delay_notified,
       m.mail_from, m.account, m.created, m.expires, m.bounce, m.size, m.tls_optional,
       coalesce(json_extract(m.intake, '$.header_message_id'), '')
FROM deliveries d INDEXED BY deliveries_due JOIN messages m ON m.id = d.message_id
WHERE d.status IN ('queued','deferred') AND d.next_attempt <= ?
ORDER BY d.next_attempt
LIMIT ?`

// Lease claims up to max due deliveries for owner until now+leaseFor. The
// claim sets next_attempt to the lease's end, so an abandoned lease becomes
// due again by itself and the next Lease takes it over with a new generation.
func (s *Store) Lease(ctx context.Context, owner string, now time.Time, leaseFor time.Duration, max int) ([]queue.Lease, error) {
	if owner == "" {
		return nil, errors.New("sqlite: lease: empty owner")
	}
	if max <= 0 {
		return nil, nil
	}
	until := now.Add(leaseFor)
	var out []queue.Lease
	err := s.write(ctx, func(tx *writeTx) error {
		out = out[:0]
		rows, err := tx.Query(leaseQuery, ms(now), max)
		if err != nil {
			return err
		}
		for rows.Next() {
			var l queue.Lease
			var next, created, expires int64
			var tried string
			err := rows.Scan(&l.ID, &l.MessageID, &l.Recipient, &l.Domain, &l.Status, &l.Attempts,
				&next, &tried, &l.NextIP, &l.Response, &l.Generation, &l.DelayNotified,
				&l.From, &l.Account, &created, &expires, &l.Bounce, &l.Size, &l.TLSOptional, &l.HeaderID)
			if err != nil {
				rows.Close()
				return err
			}
			l.NextAttempt, l.Created, l.Expires = fromMS(next), fromMS(created), fromMS(expires)
			if l.TriedIPs, err = decodeIPs(tried); err != nil {
				rows.Close()
				return fmt.Errorf("delivery %s: %w", l.ID, err)
			}
			out = append(out, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range out {
			l := &out[i]
			l.Owner, l.Until = owner, until
			l.Generation++
			_, err := tx.Exec(`UPDATE deliveries
				SET owner = ?, generation = ?, lease_until = ?, next_attempt = ?
				WHERE id = ?`, owner, l.Generation, ms(until), ms(until), l.ID)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: lease: %w", err)
	}
	return out, nil
}

// ReportAll reports each of ls at once: the writer commits them together
// (writer.go), each in its own savepoint.
func (s *Store) ReportAll(ctx context.Context, ls []*queue.Lease, os []queue.Outcome) []error {
	errs := make([]error, len(ls))
	var wg sync.WaitGroup
	for i, l := range ls {
		wg.Go(func() { errs[i] = s.Report(ctx, l, os[i]) })
	}
	wg.Wait()
	return errs
}

// Report records the outcome of a leased delivery and ends the lease, or
// returns queue.ErrLeaseLost when the lease was taken over, released, held
// or the message deleted.
func (s *Store) Report(ctx context.Context, l *queue.Lease, o queue.Outcome) error {
	switch o.Status {
	case queue.StatusDelivered, queue.StatusBounced, queue.StatusDeferred, queue.StatusQueued:
	default:
		return fmt.Errorf("sqlite: report %s: bad status %q", l.ID, o.Status)
	}
	var next int64
	if !o.Status.Final() {
		next = ms(o.Next)
		if next == 0 {
			next = ms(s.now())
		}
	}
	a := o.Attempt
	attempted := !a.Time.IsZero()
	err := s.write(ctx, func(tx *writeTx) error {
		var tried, response string
		var attempts int
		err := tx.QueryRow(`SELECT tried_ips, response, attempts FROM deliveries
			WHERE id = ? AND owner = ? AND generation = ? AND status IN ('queued','deferred')`,
			l.ID, l.Owner, l.Generation).Scan(&tried, &response, &attempts)
		if err != nil {
			return errNoRows(err, queue.ErrLeaseLost)
		}
		if a.SourceIP != "" {
			ips, err := decodeIPs(tried)
			if err != nil {
				return fmt.Errorf("delivery %s: %w", l.ID, err)
			}
			tried = encodeIPs(append(ips, a.SourceIP))
		}
		if attempted || a.Response != "" {
			response = a.Response
		}
		if attempted {
			attempts++
			_, err := tx.Exec(`INSERT INTO attempts
				(delivery_id, time, source_ip, mx, mx_addr, response, verdict, category, duration,
				 tls_version, tls_verified, tls_policy, tls_failure)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				l.ID, ms(a.Time), a.SourceIP, a.MX, a.MXAddr, a.Response, a.Verdict, a.Category,
				int64(a.Duration), a.TLS.Version, a.TLS.Verified, a.TLS.Policy, a.TLS.Failure)
			if err != nil {
				return err
			}
		}
		_, err = tx.Exec(`UPDATE deliveries
			SET status = ?, response = ?, attempts = ?, tried_ips = ?, next_attempt = ?,
			    next_ip = ?, owner = '', lease_until = 0, delay_notified = max(delay_notified, ?)
			WHERE id = ?`, o.Status, response, attempts, tried, next, o.NextIP, o.DelayNotified, l.ID)
		if err != nil {
			return err
		}
		return s.refreshStatus(tx, l.MessageID, s.now())
	})
	if err != nil && !errors.Is(err, queue.ErrLeaseLost) {
		return fmt.Errorf("sqlite: report %s: %w", l.ID, err)
	}
	return err
}

// ReleaseOwner ends every lease owner holds; the deliveries are due at once.
// The generation moves on so a straggler's Report is refused.
func (s *Store) ReleaseOwner(ctx context.Context, owner string) (int, error) {
	var n int64
	now := ms(s.now())
	err := s.write(ctx, func(tx *writeTx) error {
		res, err := tx.Exec(`UPDATE deliveries
			SET owner = '', lease_until = 0, next_attempt = ?, generation = generation + 1
			WHERE owner = ? AND status IN ('queued','deferred')`, now, owner)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: release owner %s: %w", owner, err)
	}
	return int(n), nil
}

// refreshStatus recomputes a message's summary status from its deliveries.
// Once every delivery is final (delivered or bounced) the body is dropped to
// save space: a bounce's DSN was built from it before the bounce was
// recorded (queue.SchedulerConfig.OnBounce), and a DSN we generated is
// itself a message like any other. finished, kept in step, is when the
// message became final (now, the store's clock), 0 while it is not: Purge
// goes by it.
func (s *Store) refreshStatus(tx *writeTx, messageID string, now time.Time) error {
	rows, err := tx.Query(`SELECT status FROM deliveries WHERE message_id = ?`, messageID)
	if err != nil {
		return err
	}
	var statuses []queue.Status
	for rows.Next() {
		var st queue.Status
		if err := rows.Scan(&st); err != nil {
			rows.Close()
			return err
		}
		statuses = append(statuses, st)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	st := queue.Summarize(statuses)
	if st.Final() {
		s.bodies.Forget(messageID) // dropped: no delivery will read it
	}
	_, err = tx.Exec(`UPDATE messages
		SET status = ?1, body = CASE WHEN ?2 THEN NULL ELSE body END,
		    finished = CASE WHEN NOT ?2 THEN 0 WHEN finished > 0 THEN finished ELSE ?3 END
		WHERE id = ?4`, st, st.Final(), ms(now), messageID)
	return err
}

func decodeIPs(s string) ([]string, error) {
	var ips []string
	if s == "" {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(s), &ips); err != nil {
		return nil, fmt.Errorf("tried_ips: %w", err)
	}
	if len(ips) == 0 {
		return nil, nil
	}
	return ips, nil
}

func encodeIPs(ips []string) string {
	if len(ips) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ips)
	return string(b)
}

// Renew extends the leases of ls still held by their owner to
// now+leaseFor, in one transaction, and returns those lost (another owner,
// a new generation, or no longer waiting).
func (s *Store) Renew(ctx context.Context, ls []*queue.Lease, now time.Time, leaseFor time.Duration) ([]*queue.Lease, error) {
	until := now.Add(leaseFor)
	var lost []*queue.Lease
	err := s.write(ctx, func(tx *writeTx) error {
		lost = lost[:0]
		for _, l := range ls {
			res, err := tx.Exec(`UPDATE deliveries SET lease_until = ?, next_attempt = ?
				WHERE id = ? AND owner = ? AND generation = ? AND status IN ('queued','deferred')`,
				ms(until), ms(until), l.ID, l.Owner, l.Generation)
			if err := affected(res, err, queue.ErrLeaseLost); errors.Is(err, queue.ErrLeaseLost) {
				lost = append(lost, l)
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: renew: %w", err)
	}
	for _, l := range ls {
		if !slices.Contains(lost, l) {
			l.Until = fromMS(ms(until))
		}
	}
	return lost, nil
}
