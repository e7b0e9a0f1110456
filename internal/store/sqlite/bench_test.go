package sqlite

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// The benchmarks run on a temp dir on disk with synchronous=FULL: each
// commit is an fsync, so they measure the disk as much as the code.

func BenchmarkPut1(b *testing.B)  { benchPut(b, 1) }
func BenchmarkPut20(b *testing.B) { benchPut(b, 20) }

// benchPut: submitters concurrent clients Put 4 KiB, one-recipient messages.
func benchPut(b *testing.B, submitters int) {
	s := openTest(b)
	body := make([]byte, 4096)
	for i := range body {
		body[i] = "abcdefghijklmnopqrstuvwxyz\r\n"[i%28]
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range submitters {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				m := &queue.Message{Account: "acme", From: "a@acme.test", Body: body,
					Recipients: []string{"r@one.test"}, Expires: time.Now().Add(72 * time.Hour)}
				if err := s.Put(b.Context(), m); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// BenchmarkLeaseReport: one leaser takes batches of 100 due deliveries and
// 16 workers report them delivered, as the scheduler does.
func BenchmarkLeaseReport(b *testing.B) {
	s := openTest(b)
	bulkInsert(b, s, b.N, queue.StatusQueued, time.Now().Add(-time.Minute))
	const workers = 16
	work := make(chan *queue.Lease)
	var wg sync.WaitGroup
	b.ResetTimer()
	for range workers {
		wg.Go(func() {
			for l := range work {
				o := queue.Outcome{Status: queue.StatusDelivered, Attempt: queue.Attempt{
					Time: time.Now(), SourceIP: "127.0.0.2", MX: "mx.one.test", MXAddr: "127.0.0.53:25",
					Response: "250 2.0.0 ok", Verdict: "delivered"}}
				if err := s.Report(b.Context(), l, o); err != nil {
					b.Error(err)
				}
			}
		})
	}
	done := 0
	for done < b.N {
		ls, err := s.Lease(b.Context(), "bench", time.Now(), time.Minute, 100)
		if err != nil || len(ls) == 0 {
			b.Fatalf("Lease: %d, %v after %d of %d", len(ls), err, done, b.N)
		}
		for i := range ls {
			work <- &ls[i]
		}
		done += len(ls)
	}
	close(work)
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkLeaseNothingDue measures a Lease that finds nothing, on an empty
// queue and beside 200,000 deferred deliveries not yet due: the partial
// index should make the two cost the same.
func BenchmarkLeaseNothingDue(b *testing.B) {
	for _, n := range []int{0, 200_000} {
		b.Run(fmt.Sprintf("deferred=%d", n), func(b *testing.B) {
			s := openTest(b)
			bulkInsert(b, s, n, queue.StatusDeferred, time.Now().Add(time.Hour))
			b.ResetTimer()
			for b.Loop() {
				ls, err := s.Lease(b.Context(), "bench", time.Now(), time.Minute, 100)
				if err != nil || len(ls) != 0 {
					b.Fatalf("Lease: %d, %v", len(ls), err)
				}
			}
		})
	}
}

// bulkInsert adds n one-recipient messages with the given delivery status
// and next attempt, in one transaction.
func bulkInsert(b testing.TB, s *Store, n int, status queue.Status, next time.Time) {
	b.Helper()
	body := make([]byte, 4096)
	now := time.Now()
	err := s.write(b.Context(), func(tx *writeTx) error {
		for i := range n {
			id := queue.NewID(now) + strconv.Itoa(i)
			if _, err := tx.Exec(`INSERT INTO messages
				(id, account, mail_from, body, size, created, expires, bounce, rcpts, status)
				VALUES (?, 'acme', 'a@acme.test', ?, ?, ?, ?, 0, 1, ?)`,
				id, body, len(body), ms(now), ms(now.Add(72*time.Hour)), status); err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO deliveries
				(id, message_id, idx, recipient, domain, status, next_attempt)
				VALUES (?, ?, 0, 'r@one.test', 'one.test', ?, ?)`,
				id+"/0", id, status, ms(next)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("bulk insert: %v", err)
	}
}
