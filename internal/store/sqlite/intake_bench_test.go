package sqlite

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/webhook"
	"sendpool/internal/webhook/webhooktest"
)

// benchIntake is a typical intake record: three rules, two scanners, two
// signatures.
func benchIntake() *queue.Intake {
	return &queue.Intake{Protocol: queue.ProtocolSMTP, With: "ESMTPSA", ClientIP: "192.0.2.7", Account: "acme",
		Auth: queue.AuthPassword, TLS: true, Score: 3.5,
		Rules: []queue.IntakeRule{{Scanner: "heuristics", Rule: "SHOUTING_SUBJECT", Score: 1.5, Detail: "YOUR ORDER HAS SHIPPED"},
			{Scanner: "heuristics", Rule: "MISSING_DATE", Score: 1}, {Scanner: "rspamd", Rule: "MISSING_MID", Score: 1}},
		Scanners: []queue.ScanVerdict{{Scanner: "heuristics", Result: queue.ScanClean, Score: 2.5},
			{Scanner: "clamd", Result: queue.ScanClean}},
		DKIM: []queue.DKIMSignature{{Domain: "acme.test", Selector: "sp202611r", Algorithm: "rsa-sha256"},
			{Domain: "acme.test", Selector: "sp202611e", Algorithm: "ed25519-sha256"}},
	}
}

// BenchmarkPut20Intake is BenchmarkPut20 with benchIntake on every
// message: what keeping intake's verdict costs the hot path.
func BenchmarkPut20Intake(b *testing.B) {
	in := benchIntake()
	s := openTest(b)
	body := benchBody(4096)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 20 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				m := &queue.Message{Account: "acme", From: "a@acme.test", Body: body, Intake: in,
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

// BenchmarkEncodeIntake: the JSON encoding Put adds, outside the writer.
func BenchmarkEncodeIntake(b *testing.B) {
	in := benchIntake()
	var size int
	for b.Loop() {
		v, err := encodeIntake(in)
		if err != nil {
			b.Fatal(err)
		}
		size = len(v.(string))
	}
	b.ReportMetric(float64(size), "bytes")
}

// BenchmarkPut20Events is BenchmarkPut20Intake with an accepted event in
// the same transaction, as intake stores every message when the webhooks'
// outbox is on (the default).
func BenchmarkPut20Events(b *testing.B) {
	in := benchIntake()
	s := openTest(b)
	body := benchBody(10240)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 20 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				now := time.Now()
				m := &queue.Message{ID: queue.NewID(now), Account: "acme", From: "a@acme.test", Body: body, Intake: in,
					Recipients: []string{"r@one.test"}, Created: now, Expires: now.Add(72 * time.Hour)}
				recs := []webhook.Record{{Event: webhooktest.Event(fmt.Sprint("ev", i), m.ID, "acme", now)}}
				if err := s.PutWithEvents(b.Context(), m, recs); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// benchBody is n bytes of 26-letter lines.
func benchBody(n int) []byte {
	body := make([]byte, n)
	for i := range body {
		body[i] = "abcdefghijklmnopqrstuvwxyz\r\n"[i%28]
	}
	return body
}
