package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// finishAll stores n messages of rcpts recipients each as the store would
// once every delivery was delivered with one attempt, finished at finished,
// in one write (reporting thousands of deliveries one by one would be the
// slow part of these tests).
func finishAll(t testing.TB, s *Store, n, rcpts int, finished time.Time) {
	t.Helper()
	err := s.write(t.Context(), func(tx *writeTx) error {
		for range n {
			id := queue.NewID(finished)
			if _, err := tx.Exec(`INSERT INTO messages
				(id, account, mail_from, body, size, created, expires, bounce, rcpts, status, finished)
				VALUES (?, 'acme', 'a@acme.test', NULL, 2, ?, ?, 0, ?, 'delivered', ?)`,
				id, ms(finished), ms(finished), rcpts, ms(finished)); err != nil {
				return err
			}
			for i := range rcpts {
				did := fmt.Sprintf("%s/%d", id, i)
				if _, err := tx.Exec(`INSERT INTO deliveries
					(id, message_id, idx, recipient, domain, status, attempts, next_attempt)
					VALUES (?, ?, ?, 'r@one.test', 'one.test', 'delivered', 1, 0)`, did, id, i); err != nil {
					return err
				}
				if _, err := tx.Exec(`INSERT INTO attempts
					(delivery_id, time, source_ip, mx, mx_addr, response, verdict, category, duration)
					VALUES (?, ?, '127.0.0.2', 'mx.one.test', '127.0.0.53:25', '250 ok', 'delivered', '', 0)`,
					did, ms(finished)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func rowCount(t testing.TB, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.r.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPurgeLeavesNoRows: deliveries and attempts go with their message
// (ON DELETE CASCADE), over several write ops: more messages than one op
// takes, and more deliveries than one op's row budget.
func TestPurgeLeavesNoRows(t *testing.T) {
	s := openTest(t)
	const many, wide = purgeMessages + 30, 3
	old := time.Now().Add(-time.Hour)
	finishAll(t, s, many, 1, old)
	finishAll(t, s, wide, purgeRows/2+1, old) // one op can take only one of these
	if n, err := s.Purge(t.Context(), time.Now(), 10000); err != nil || n != many+wide {
		t.Fatalf("Purge = %d, %v; want %d", n, err, many+wide)
	}
	for _, table := range []string{"messages", "deliveries", "attempts"} {
		if n := rowCount(t, s, table); n != 0 {
			t.Errorf("%d rows left in %s", n, table)
		}
	}
}

// TestPurgeUsesFinishedIndex: finding what to purge must not scan the
// messages table, which holds every message kept.
func TestPurgeUsesFinishedIndex(t *testing.T) {
	s := openTest(t)
	rows, err := s.r.Query(`EXPLAIN QUERY PLAN `+purgeCandidates, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	for _, p := range plan {
		if strings.Contains(p, "SEARCH messages USING INDEX messages_finished") {
			return
		}
	}
	t.Fatalf("purge plan does not search messages_finished: %q", plan)
}

// TestMigrationSetsFinished: a database from before retention gets its
// final messages' finishing times (the last attempt) and loses the bodies
// of finished bounces; unfinished messages stay as they were.
func TestMigrationSetsFinished(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	const before = 5 // the migrations shipped before retention
	for _, m := range migrations[:before] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	created := time.Now().Add(-100 * time.Hour)
	last := created.Add(time.Hour)
	_, err = db.Exec(fmt.Sprintf(`PRAGMA user_version = %d;
INSERT INTO messages (id, account, mail_from, body, size, created, expires, bounce, rcpts, status) VALUES
	('bounced', 'acme', 'a@acme.test', x'6869', 2, ?1, ?1, 0, 1, 'bounced'),
	('noattempt', 'acme', 'a@acme.test', NULL, 2, ?1, ?1, 0, 1, 'delivered'),
	('waiting', 'acme', 'a@acme.test', x'6869', 2, ?1, ?1, 0, 1, 'deferred');
INSERT INTO deliveries (id, message_id, idx, recipient, domain, status, next_attempt) VALUES
	('bounced/0', 'bounced', 0, 'r@one.test', 'one.test', 'bounced', 0),
	('noattempt/0', 'noattempt', 0, 'r@one.test', 'one.test', 'delivered', 0),
	('waiting/0', 'waiting', 0, 'r@one.test', 'one.test', 'deferred', ?1);
INSERT INTO attempts (delivery_id, time, source_ip, mx, mx_addr, response, verdict, category, duration) VALUES
	('bounced/0', ?1, '', '', '', '450', '', '', 0),
	('bounced/0', ?2, '', '', '', '550', '', '', 0),
	('waiting/0', ?2, '', '', '', '450', '', '', 0);`, before), ms(created), ms(last))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for id, want := range map[string]int64{"bounced": ms(last), "noattempt": ms(created), "waiting": 0} {
		var finished int64
		if err := s.r.QueryRow(`SELECT finished FROM messages WHERE id = ?`, id).Scan(&finished); err != nil || finished != want {
			t.Errorf("%s: finished = %d, %v; want %d", id, finished, err, want)
		}
	}
	if _, err := s.Body(t.Context(), "bounced"); err != queue.ErrNotFound {
		t.Errorf("Body of a bounced message after migration: %v, want ErrNotFound", err)
	}
	if b, err := s.Body(t.Context(), "waiting"); err != nil || string(b) != "hi" {
		t.Errorf("Body of a waiting message after migration: %q, %v", b, err)
	}
	if n, err := s.Purge(t.Context(), last.Add(time.Millisecond), 10); err != nil || n != 2 {
		t.Errorf("Purge after migration = %d, %v; want 2", n, err)
	}
}

// BenchmarkPurgeOp measures one purge write op, the time it adds to the
// commit it shares with intake's Puts: purgeMessages one-recipient
// messages, or one message of purgeRows recipients, one attempt each.
func BenchmarkPurgeOp(b *testing.B) {
	for _, c := range []struct {
		name     string
		n, rcpts int
	}{{"narrow", purgeMessages, 1}, {"wide", 1, purgeRows}} {
		b.Run(c.name, func(b *testing.B) {
			s := openTest(b)
			for b.Loop() {
				b.StopTimer()
				finishAll(b, s, c.n, c.rcpts, time.Now().Add(-time.Hour))
				b.StartTimer()
				if n, err := s.Purge(b.Context(), time.Now(), c.n); err != nil || n != c.n {
					b.Fatalf("Purge = %d, %v", n, err)
				}
			}
		})
	}
}
