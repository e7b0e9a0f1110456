package webhook_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/webhook"
)

// benchPut puts b.N messages from 20 goroutines through q (SQLite, group
// commit) and reports messages per second.
func benchPut(b *testing.B, hooks bool) {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "q.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var q queue.Store = st
	if hooks {
		eps := webhook.NewEndpoints(st, time.Minute)
		st.CreateEndpoint(context.Background(), &webhook.Endpoint{ID: "wh_a", URL: "http://127.0.0.1:9/",
			Events: webhook.DefaultTypes(), Secrets: []webhook.Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}})
		q = webhook.NewEmitter(webhook.EmitterConfig{Store: st, Endpoints: eps}).Queue(st)
	}
	body := make([]byte, 4096)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 20 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				m := &queue.Message{Account: "acme", From: "a@acme.test", Body: body, Recipients: []string{"r@one.test"},
					Created: time.Now(), Expires: time.Now().Add(72 * time.Hour), Intake: &queue.Intake{HeaderMessageID: "x@acme.test"}}
				if err := q.Put(context.Background(), m); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// BenchmarkPut20 and BenchmarkPut20Accepted: what writing the accepted
// event (and its send to one endpoint) before each Put costs intake.
func BenchmarkPut20(b *testing.B)         { benchPut(b, false) }
func BenchmarkPut20Accepted(b *testing.B) { benchPut(b, true) }
