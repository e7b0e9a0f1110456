package sqlite

import (
	"context"
	"fmt"
	"time"
)

// A purge runs on the writer goroutine like every write, so it shares
// transactions with intake's Puts (group commit) and must keep its share
// short: each write op deletes at most purgeMessages messages carrying at
// most purgeRows deliveries, and Purge loops over ops, letting the Puts
// waiting meanwhile into the next transaction.
const (
	purgeMessages = 250
	purgeRows     = 1000
)

// purgeCandidates lists finished messages, oldest first, by the partial
// index on finished (its WHERE is repeated word for word so that the
// planner may use it).
const purgeCandidates = `
SELECT id, rcpts FROM messages INDEXED BY messages_finished
WHERE finished > 0 AND finished < ?
ORDER BY finished
LIMIT ?`

// purgeOne deletes one message if it is still final; its deliveries and
// their attempts go with it (ON DELETE CASCADE). The NOT EXISTS guards
// against a summary status out of step with the deliveries.
const purgeOne = `
DELETE FROM messages
WHERE id = ?1 AND status IN ('delivered','bounced')
  AND NOT EXISTS (SELECT 1 FROM deliveries
                  WHERE message_id = ?1 AND status NOT IN ('delivered','bounced'))`

// Purge deletes up to limit messages that became final before before, with
// their deliveries and attempts, and returns how many. It never touches a
// message with a delivery still queued, deferred, held or leased (leased
// ones are queued or deferred). Being one writer, the store cannot race
// with itself; a second Purge at once finds the first one's work done.
//
// The file does not shrink after a large purge: SQLite keeps the freed
// pages and reuses them for new messages, which is what a queue that keeps
// receiving needs. VACUUM would rewrite the whole file under the writer's
// lock, stalling intake, so it is not done here; an operator who wants the
// space back runs it with the node stopped.
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	total := 0
	for total < limit {
		want := min(limit-total, purgeMessages)
		var more bool
		var n int
		err := s.write(ctx, func(tx *writeTx) error {
			n = 0
			ids, full, err := purgeBatch(tx, ms(before), want)
			if err != nil {
				return err
			}
			more = full
			for _, id := range ids {
				res, err := tx.Exec(purgeOne, id)
				if err != nil {
					return err
				}
				// Rows deleted by the cascade are not counted here
				// (sqlite3_changes counts the statement's own rows).
				k, err := res.RowsAffected()
				if err != nil {
					return err
				}
				n += int(k)
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("sqlite: purge: %w", err)
		}
		total += n
		if !more || n == 0 {
			break
		}
	}
	return total, nil
}

// purgeBatch picks up to want candidates whose deliveries add up to at most
// purgeRows, but always at least one. full says whether more may be left:
// want were found, or the budget cut the list short.
func purgeBatch(tx *writeTx, before int64, want int) (ids []string, full bool, err error) {
	rows, err := tx.Query(purgeCandidates, before, want)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	budget := purgeRows
	for rows.Next() {
		var id string
		var rcpts int
		if err := rows.Scan(&id, &rcpts); err != nil {
			return nil, false, err
		}
		if len(ids) > 0 && rcpts > budget {
			return ids, true, nil
		}
		ids = append(ids, id)
		budget -= rcpts
	}
	return ids, len(ids) == want, rows.Err()
}
