package scan

import (
	"fmt"
	"strings"
	"testing"
)

// benchMessage is a plain-text message like the bench's load: a header,
// then lines of 76 random-looking characters.
func benchMessage(size int) []byte {
	var b strings.Builder
	b.WriteString(hdr + "Subject: bench message\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
	x := uint32(2463534242)
	for b.Len() < size {
		for range 76 {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b.WriteByte(alphabet[x%uint32(len(alphabet))])
		}
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

func BenchmarkHeuristics(b *testing.B) {
	for _, size := range []int{10 << 10, 100 << 10} {
		body := benchMessage(size)
		in := &Input{Domains: []string{"shop.test"}, From: "s@shop.test", Body: body}
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if r, _ := (Heuristics{}).Scan(b.Context(), in); r.Score != 0 {
					b.Fatalf("score %v: %v", r.Score, r.Rules)
				}
			}
		})
	}
}
