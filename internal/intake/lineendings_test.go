package intake

import (
	"bytes"
	"testing"
)

// slowNormalize is NormalizeLineEndings without its shortcut.
func slowNormalize(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			out = append(out, '\r', '\n')
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}

// The shortcut for mail already in CRLF form changes nothing.
func FuzzNormalizeLineEndings(f *testing.F) {
	for _, s := range []string{"", "a\r\n", "a\nb", "a\r\r\n", "\r\n\r\n.\r\n", "x\ry\r\n", "\n", "\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want := slowNormalize(in)
		if got := NormalizeLineEndings(bytes.Clone(in)); !bytes.Equal(got, want) {
			t.Errorf("NormalizeLineEndings(%q) = %q, want %q", in, got, want)
		}
	})
}
