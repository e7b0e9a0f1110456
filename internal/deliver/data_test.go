package deliver

import (
	"bufio"
	"bytes"
	mrand "math/rand/v2"
	"testing"
)

// stuffLines is the plain line-by-line form of DATA content that writeData
// must match: each line CRLF-ended (a CR before the LF dropped, then CRLF
// added), a leading dot doubled, then the end-of-data line.
func stuffLines(msg []byte) []byte {
	var out bytes.Buffer
	for len(msg) > 0 {
		line, rest, _ := bytes.Cut(msg, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > 0 && line[0] == '.' {
			out.WriteByte('.')
		}
		out.Write(line)
		out.WriteString("\r\n")
		msg = rest
	}
	out.WriteString(".\r\n")
	return out.Bytes()
}

func writeDataTo(bufSize int, parts ...[]byte) []byte {
	var out bytes.Buffer
	w := bufio.NewWriterSize(&out, bufSize)
	if err := writeData(w, parts...); err != nil {
		panic(err)
	}
	return out.Bytes()
}

func TestWriteDataParts(t *testing.T) {
	for _, tc := range []struct {
		parts []string
		want  string
	}{
		{nil, ".\r\n"},
		{[]string{"DKIM-Signature: a\r\n", ".body\r\n"}, "DKIM-Signature: a\r\n..body\r\n.\r\n"},
		{[]string{"h: 1\r", "\nb\n"}, "h: 1\r\nb\r\n.\r\n"},                 // CRLF split across parts
		{[]string{"h: 1\n", ".\r\n"}, "h: 1\r\n..\r\n.\r\n"},                // a part starts a line
		{[]string{"no end"}, "no end\r\n.\r\n"},                             // the last line gets one
		{[]string{"cr end\r"}, "cr end\r\n.\r\n"},                           // a final lone CR
		{[]string{"a\rb\r\n"}, "a\rb\r\n.\r\n"},                             // a CR inside a line stays
		{[]string{"", "x\r\n", "", ".y"}, "x\r\n..y\r\n.\r\n"},              // empty parts
		{[]string{"\n\n.\n"}, "\r\n\r\n..\r\n.\r\n"},                        // bare LFs only
		{[]string{"h: 1\r\n", "\r\nbody\r\n"}, "h: 1\r\n\r\nbody\r\n.\r\n"}, // the LF after a full line
	} {
		var parts [][]byte
		for _, p := range tc.parts {
			parts = append(parts, []byte(p))
		}
		if got := writeDataTo(4096, parts...); string(got) != tc.want {
			t.Errorf("%q: got %q, want %q", tc.parts, got, tc.want)
		}
	}
}

// TestWriteDataMatchesLines compares writeData, the message cut into parts
// anywhere and written through a small buffer, with the line-by-line form.
func TestWriteDataMatchesLines(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	alphabet := []byte{'.', '\r', '\n', 'a', 'b'}
	for range 3000 {
		msg := make([]byte, rng.IntN(300))
		for i := range msg {
			msg[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cut1 := rng.IntN(len(msg) + 1)
		cut2 := cut1 + rng.IntN(len(msg)-cut1+1)
		parts := [][]byte{msg[:cut1], msg[cut1:cut2], msg[cut2:]}
		got := writeDataTo(16+rng.IntN(64), parts...)
		if want := stuffLines(msg); !bytes.Equal(got, want) {
			t.Fatalf("%q cut at %d and %d:\n got %q\nwant %q", msg, cut1, cut2, got, want)
		}
	}
}

func FuzzWriteData(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\n.dot\nbare\r\nend"), 5)
	f.Add([]byte(".\r\n..\r\n."), 2)
	f.Add([]byte("a\r"), 2)
	f.Fuzz(func(t *testing.T, msg []byte, cut int) {
		if cut < 0 || cut > len(msg) {
			cut = len(msg) / 2
		}
		if got, want := writeDataTo(16, msg[:cut], msg[cut:]), stuffLines(msg); !bytes.Equal(got, want) {
			t.Fatalf("%q cut at %d: got %q, want %q", msg, cut, got, want)
		}
	})
}

// BenchmarkWriteData is a 100 KB message with a dot line now and then.
func BenchmarkWriteData(b *testing.B) {
	var msg bytes.Buffer
	for i := 0; msg.Len() < 100<<10; i++ {
		if i%50 == 0 {
			msg.WriteString(".dot\r\n")
		}
		msg.WriteString("0123456789012345678901234567890123456789012345678901234567890123456789\r\n")
	}
	w := bufio.NewWriterSize(discard{}, writeBuffer)
	b.SetBytes(int64(msg.Len()))
	b.ReportAllocs()
	for b.Loop() {
		writeData(w, msg.Bytes())
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestIsASCII(t *testing.T) {
	for n := range 80 {
		b := bytes.Repeat([]byte("a"), n)
		if !isASCII(b) || !isASCIIString(string(b)) {
			t.Errorf("%d ASCII bytes: not ASCII", n)
		}
		for i := range n {
			c := bytes.Clone(b)
			c[i] = 0x80
			if isASCII(c) || isASCIIString(string(c)) {
				t.Errorf("0x80 at %d of %d: ASCII", i, n)
			}
		}
	}
}

func BenchmarkIsASCII(b *testing.B) {
	msg := bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		isASCII(msg)
	}
}
