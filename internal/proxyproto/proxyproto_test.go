package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// build is a header: the signature, then the 13th and 14th bytes, the
// length and body as given.
func build(verCmd, famProto byte, body []byte) []byte {
	b := append([]byte(nil), signature[:]...)
	b = append(b, verCmd, famProto)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

// tlv is one TLV.
func tlv(typ byte, value []byte) []byte {
	b := []byte{typ}
	b = binary.BigEndian.AppendUint16(b, uint16(len(value)))
	return append(b, value...)
}

// withCRC appends a CRC32C TLV (§2.2.3) that matches the header, or,
// with bad, one that does not.
func withCRC(hdr []byte, bad bool) []byte {
	hdr = append(bytes.Clone(hdr), tlvCRC32C, 0, 4, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(hdr[14:16], uint16(len(hdr)-fixedLen))
	sum := crc32.Checksum(hdr, crc32.MakeTable(crc32.Castagnoli))
	if bad {
		sum++
	}
	binary.BigEndian.PutUint32(hdr[len(hdr)-4:], sum)
	return hdr
}

var (
	v4Body = []byte{203, 0, 113, 7, 192, 0, 2, 1, 0xC3, 0x50, 0x02, 0x4B} // 203.0.113.7:50000 → 192.0.2.1:587
	v6Body = append(append(netip.MustParseAddr("2001:db8::7").AsSlice(), netip.MustParseAddr("2001:db8::1").AsSlice()...),
		0xC3, 0x50, 0x02, 0x4B)
	mappedBody = append(append(netip.MustParseAddr("::ffff:203.0.113.7").AsSlice(), netip.MustParseAddr("::ffff:192.0.2.1").AsSlice()...),
		0xC3, 0x50, 0x02, 0x4B)
)

func TestParse(t *testing.T) {
	src4, dst4 := netip.MustParseAddrPort("203.0.113.7:50000"), netip.MustParseAddrPort("192.0.2.1:587")
	src6, dst6 := netip.MustParseAddrPort("[2001:db8::7]:50000"), netip.MustParseAddrPort("[2001:db8::1]:587")
	ok := []struct {
		name string
		in   []byte
		want Header
	}{
		{"TCP over IPv4", build(0x21, tcp4, v4Body), Header{Proxy, src4, dst4}},
		{"TCP over IPv6", build(0x21, tcp6, v6Body), Header{Proxy, src6, dst6}},
		{"IPv4 mapped into IPv6", build(0x21, tcp6, mappedBody), Header{Proxy, src4, dst4}},
		{"LOCAL, no addresses", build(0x20, unspec, nil), Header{Command: Local}},
		{"LOCAL with addresses, ignored", build(0x20, tcp4, v4Body), Header{Command: Local}},
		{"LOCAL with unspecified bytes, ignored", build(0x20, unspec, []byte{1, 2, 3, 4, 5}), Header{Command: Local}},
		{"LOCAL over UNIX", build(0x20, unixStream, make([]byte, addrLenUnix)), Header{Command: Local}},
		{"TLVs after the addresses", build(0x21, tcp4, append(append(bytes.Clone(v4Body), tlv(0x04, []byte("pad"))...), tlv(0x05, []byte("id-1"))...)),
			Header{Proxy, src4, dst4}},
		{"empty TLV", build(0x21, tcp4, append(bytes.Clone(v4Body), tlv(0x04, nil)...)), Header{Proxy, src4, dst4}},
		{"right CRC32C", withCRC(build(0x21, tcp4, v4Body), false), Header{Proxy, src4, dst4}},
		{"right CRC32C, IPv6", withCRC(build(0x21, tcp6, v6Body), false), Header{Proxy, src6, dst6}},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			// Bytes after the header are the relayed connection's.
			in := append(bytes.Clone(c.in), "EHLO x\r\n"...)
			h, n, err := Parse(in)
			if err != nil || h != c.want || n != len(c.in) {
				t.Fatalf("Parse = %+v, %d, %v; want %+v, %d", h, n, err, c.want, len(c.in))
			}
			r := bytes.NewReader(in)
			if h, err := Read(r); err != nil || h != c.want {
				t.Fatalf("Read = %+v, %v", h, err)
			}
			if rest, _ := io.ReadAll(r); string(rest) != "EHLO x\r\n" {
				t.Fatalf("Read left %q, want exactly what follows the header", rest)
			}
		})
	}

	bad := []struct {
		name, in, why string
	}{
		{"empty", "", "shorter"},
		{"v1 text header", "PROXY TCP4 203.0.113.7 192.0.2.1 50000 587\r\n", "signature"},
		{"SMTP instead", "EHLO client.example\r\n", "signature"},
		{"version 1 nibble", string(build(0x11, tcp4, v4Body)), "version 1"},
		{"version 3", string(build(0x31, tcp4, v4Body)), "version 3"},
		{"command 2", string(build(0x22, tcp4, v4Body)), "command"},
		{"command 15", string(build(0x2F, tcp4, v4Body)), "command"},
		{"family 4", string(build(0x21, 0x41, v4Body)), "family"},
		{"protocol 3", string(build(0x21, 0x13, v4Body)), "family"},
		{"IPv4 block too short", string(build(0x21, tcp4, v4Body[:11])), "needs 12"},
		{"IPv6 block too short", string(build(0x21, tcp6, v6Body[:35])), "needs 36"},
		{"LOCAL, UNIX block too short", string(build(0x20, unixStream, make([]byte, 215))), "needs 216"},
		{"partial header", string(build(0x21, tcp4, v4Body))[:20], "announced"},
		{"truncated TLV", string(build(0x21, tcp4, append(bytes.Clone(v4Body), 0x04, 0))), "too short for a TLV"},
		{"TLV overruns", string(build(0x21, tcp4, append(bytes.Clone(v4Body), 0x04, 0, 9, 1))), "overruns"},
		{"wrong CRC32C", string(withCRC(build(0x21, tcp4, v4Body), true)), "CRC32C"},
		{"CRC32C of 3 bytes", string(build(0x21, tcp4, append(bytes.Clone(v4Body), tlv(tlvCRC32C, []byte{1, 2, 3})...))), "CRC32C TLV of 3"},
		{"PROXY over UDP", string(build(0x21, udp4, v4Body)), "only TCP"},
		{"PROXY over UNIX", string(build(0x21, unixStream, make([]byte, addrLenUnix))), "only TCP"},
		{"PROXY, family unspecified", string(build(0x21, unspec, nil)), "only TCP"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			h, _, err := Parse([]byte(c.in))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.why) {
				t.Fatalf("Parse = %+v, %v; want ErrMalformed saying %q", h, err, c.why)
			}
			if _, err := Read(strings.NewReader(c.in)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Read: %v, want ErrMalformed", err)
			}
		})
	}
}

// TestReadDoesNotWaitPastTheHeader: Read takes the header from a stream
// whose next bytes have not come yet (the client speaks after the server's
// greeting) without blocking on them.
func TestReadDoesNotWaitPastTheHeader(t *testing.T) {
	pr, pw := io.Pipe()
	go pw.Write(build(0x21, tcp4, v4Body)) // then nothing
	h, err := Read(pr)
	if err != nil || h.Source != netip.MustParseAddrPort("203.0.113.7:50000") {
		t.Fatalf("Read = %+v, %v", h, err)
	}
	pw.Close()
}

func TestMarshal(t *testing.T) {
	for _, h := range []Header{
		{Command: Local},
		{Proxy, netip.MustParseAddrPort("203.0.113.7:50000"), netip.MustParseAddrPort("192.0.2.1:587")},
		{Proxy, netip.MustParseAddrPort("[2001:db8::7]:1"), netip.MustParseAddrPort("[2001:db8::1]:587")},
	} {
		b := h.Marshal()
		got, n, err := Parse(b)
		if err != nil || got != h || n != len(b) {
			t.Errorf("Parse(Marshal(%+v)) = %+v, %d, %v", h, got, n, err)
		}
	}
}
