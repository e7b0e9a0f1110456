package scan

import (
	"bytes"
	"strings"
	"testing"
)

// TestReadPartAcrossChunks: a test string split by the chunk boundary is
// still found, and only the head of a part is kept.
func TestReadPartAcrossChunks(t *testing.T) {
	for _, at := range []int{0, partChunk - 10, partChunk + 1, 3*partChunk - len(EICAR)/2} {
		data := append(bytes.Repeat([]byte("a"), at), EICAR...)
		data = append(data, strings.Repeat("b", partChunk)...)
		d, err := readPart(bytes.NewReader(data), 100, len(data))
		if err != nil {
			t.Fatal(err)
		}
		if !d.eicar || d.gtube {
			t.Errorf("EICAR at %d: eicar %v gtube %v", at, d.eicar, d.gtube)
		}
		if d.n != len(data) || !bytes.Equal(d.head, data[:100]) {
			t.Errorf("EICAR at %d: read %d of %d, head %d bytes", at, d.n, len(data), len(d.head))
		}
	}
	d, _ := readPart(strings.NewReader(strings.Repeat("x", 5*partChunk)), maxTextBytes, 1<<30)
	if d.eicar || d.gtube || d.n != 5*partChunk {
		t.Errorf("clean part: %+v", d)
	}
}
