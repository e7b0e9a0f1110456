package queue

import (
	"bytes"
	"io"
)

// Spooled is a body kept out of memory (issue 13): its size, and a reader
// of it from the start, which a store reads once, in order, to write it in
// chunks.
type Spooled interface {
	Size() int64
	NewReader() io.Reader
}

// BodySize is the size of m's body, wherever it is.
func (m *Message) BodySize() int64 {
	if m.Spooled != nil {
		return m.Spooled.Size()
	}
	return int64(len(m.Body))
}

// StoredBody is a body as a store gives it back for delivery: Bytes when
// it was stored whole (a small one), otherwise Open reads its chunks in
// order, so that delivering a large message never holds it whole.
type StoredBody struct {
	Bytes []byte
	Size  int64
	Open  func() (io.ReadCloser, error) // nil when Bytes is the body
}

// ChunkSize is how much of a large body a store writes in one chunk and
// delivery reads at a time: big enough that a chunk's overhead is
// nothing, small enough that a few dozen deliveries at once hold little.
const ChunkSize = 1 << 20

// ChunkReader reads a body stored in N chunks, in order, fetching chunk n
// when the one before is used up (one query each in the stores).
type ChunkReader struct {
	N     int
	Fetch func(n int) ([]byte, error)

	next int
	cur  bytes.Reader
}

func (c *ChunkReader) Read(p []byte) (int, error) {
	for c.cur.Len() == 0 {
		if c.next == c.N {
			return 0, io.EOF
		}
		b, err := c.Fetch(c.next)
		if err != nil {
			return 0, err
		}
		c.next++
		c.cur.Reset(b)
	}
	return c.cur.Read(p)
}

// Close does nothing: each chunk was fetched whole.
func (c *ChunkReader) Close() error { return nil }
