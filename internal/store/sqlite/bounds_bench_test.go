package sqlite

import (
	"strconv"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// BenchmarkCheckIntegrity: PRAGMA quick_check reads every page, so its
// time grows with the file (from the page cache here; a cold disk is
// slower: 17.6 s for a 1.2 GB queue of 100,000 10 KB messages, against
// 1.3 s warm). serve waits config.IntegrityCheckBudget for it at start
// and checks a bigger file on in the background.
func BenchmarkCheckIntegrity(b *testing.B) {
	s := openTest(b)
	bulkInsert(b, s, 25000, queue.StatusDeferred, time.Now().Add(time.Hour)) // 4 KB bodies: ~110 MB
	var size int64
	if err := s.r.QueryRow(`SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`).Scan(&size); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := s.CheckIntegrity(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	perGB := b.Elapsed().Seconds() / float64(b.N) / (float64(size) / (1 << 30))
	b.ReportMetric(float64(size)/(1<<20), "MB")
	b.ReportMetric(perGB, "s/GB")
}

// BenchmarkCounts: the GROUP BY that /metrics ran on every scrape before
// the count was cached (config.QueueCountsEvery), over 200,000
// deliveries (bodies left out: they do not change the query).
func BenchmarkCounts(b *testing.B) {
	s := openTest(b)
	now := time.Now()
	err := s.write(b.Context(), func(tx *writeTx) error {
		for i := range 200000 {
			id := queue.NewID(now) + strconv.Itoa(i)
			if _, err := tx.Exec(`INSERT INTO messages
				(id, account, mail_from, body, size, created, expires, bounce, rcpts, status)
				VALUES (?, 'acme', 'a@acme.test', x'', 0, ?, ?, 0, 1, 'deferred')`,
				id, ms(now), ms(now.Add(time.Hour))); err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO deliveries (id, message_id, idx, recipient, domain, status, next_attempt)
				VALUES (?, ?, 0, 'r@one.test', 'one.test', 'deferred', ?)`, id+"/0", id, ms(now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Counts(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(200000, "deliveries")
}
