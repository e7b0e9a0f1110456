package proxyproto

import (
	"bytes"
	"io"
	"testing"
)

// FuzzParse: no input makes Parse or Read panic or read past the header;
// both agree; a header accepted names TCP endpoints only for PROXY, and
// those survive Marshal. The corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add(build(0x21, tcp4, v4Body))
	f.Add(build(0x21, tcp6, v6Body))
	f.Add(build(0x20, unspec, nil))
	f.Add(withCRC(build(0x21, tcp4, v4Body), false))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := Parse(b)
		r := bytes.NewReader(b)
		rh, rerr := Read(r)
		if (err == nil) != (rerr == nil) || h != rh {
			t.Fatalf("Parse = %+v, %v; Read = %+v, %v", h, err, rh, rerr)
		}
		if err != nil {
			return
		}
		if n < fixedLen || n > len(b) || r.Len() != len(b)-n {
			t.Fatalf("header of %d bytes in %d, Read left %d", n, len(b), r.Len())
		}
		rest, _ := io.ReadAll(r)
		if !bytes.Equal(rest, b[n:]) {
			t.Fatal("Read consumed other bytes than the header")
		}
		switch h.Command {
		case Local:
			if h.Source.IsValid() || h.Destination.IsValid() {
				t.Fatalf("LOCAL with addresses: %+v", h)
			}
		case Proxy:
			if !h.Source.IsValid() || !h.Destination.IsValid() || h.Source.Addr().Is4In6() {
				t.Fatalf("PROXY without plain addresses: %+v", h)
			}
			if got, _, err := Parse(h.Marshal()); err != nil || got != h {
				t.Fatalf("Marshal round trip: %+v, %v; want %+v", got, err, h)
			}
		default:
			t.Fatalf("command %d accepted", h.Command)
		}
	})
}
