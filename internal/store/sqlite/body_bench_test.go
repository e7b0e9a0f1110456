package sqlite

import (
	"fmt"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// BenchmarkBody is the delivery worker's read of a message body: B/op
// and allocs/op show how many copies of the body a read makes.
func BenchmarkBody(b *testing.B) {
	for _, size := range []int{10 << 10, 100 << 10} {
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			s := openTest(b)
			body := make([]byte, size)
			for i := range body {
				body[i] = "abcdefghijklmnopqrstuvwxyz\r\n"[i%28]
			}
			m := &queue.Message{Account: "acme", From: "a@acme.test", Body: body,
				Recipients: []string{"r@one.test"}, Expires: time.Now().Add(time.Hour)}
			if err := s.Put(b.Context(), m); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				got, err := s.Body(b.Context(), m.ID)
				if err != nil || len(got) != size {
					b.Fatalf("Body = %d bytes, %v", len(got), err)
				}
			}
		})
	}
}
