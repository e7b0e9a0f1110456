// Package proxyproto reads the PROXY protocol version 2 header that a load
// balancer (HAProxy's send-proxy-v2, and the like) writes at the start of
// each connection it relays, naming the client it relays for. The format
// is HAProxy's doc/proxy-protocol.txt, §2.2 (binary header); version 1
// (text) is not accepted.
//
// Only a header from a trusted peer may be believed (§5: "accepting the
// header only from a number of known sources should be safe"): Listener
// closes any other peer's connection unread, and any connection whose
// header is malformed, partial or late.
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
)

// signature starts every v2 header (§2.2): chosen to fail at once on
// HTTP, TLS, SMTP and other protocols, so a misconfigured peer is seen.
var signature = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// fixedLen is the signature, version and command, family and protocol,
// and the length of the rest.
const fixedLen = 16

// Command is the low nibble of the 13th byte (§2.2).
type Command uint8

const (
	// Local: the proxy opened the connection itself (a health check); the
	// real endpoints apply and the address block is ignored.
	Local Command = 0x0
	// Proxy: the connection is relayed for the client the header names.
	Proxy Command = 0x1
)

// The 14th byte (§2.2): address family (high nibble) and transport
// protocol (low nibble). These are the valid combinations; anything else
// must be rejected.
const (
	unspec      = 0x00
	tcp4        = 0x11
	udp4        = 0x12
	tcp6        = 0x21
	udp6        = 0x22
	unixStream  = 0x31
	unixDgram   = 0x32
	addrLenIPv4 = 2*4 + 2*2
	addrLenIPv6 = 2*16 + 2*2
	addrLenUnix = 2 * 108
)

// tlvCRC32C is PP2_TYPE_CRC32C (§2.2.3): a checksum of the whole header.
const tlvCRC32C = 0x03

// Header is a parsed v2 header.
type Header struct {
	Command Command
	// Source and Destination are the relayed connection's endpoints (the
	// client and the address it connected to): set for a Proxy command
	// over TCP, IPv4 or IPv6, and never otherwise.
	Source, Destination netip.AddrPort
}

// ErrMalformed is the error of every header refused. The connection that
// sent it must be closed (§2.2: "Receivers must drop connections
// presenting unexpected values"; "reject incoming connections containing
// partial protocol headers").
var ErrMalformed = errors.New("proxyproto: bad PROXY v2 header")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Read reads one header from r and not a byte more: what follows is the
// relayed connection's own data. A short read is ErrMalformed too.
func Read(r io.Reader) (Header, error) {
	buf := make([]byte, fixedLen, fixedLen+addrLenIPv6)
	if _, err := io.ReadFull(r, buf); err != nil {
		return Header{}, malformed("reading the first %d bytes: %v", fixedLen, err)
	}
	if !bytes.Equal(buf[:len(signature)], signature[:]) {
		return Header{}, malformed("no v2 signature")
	}
	n := int(binary.BigEndian.Uint16(buf[14:fixedLen]))
	buf = append(buf, make([]byte, n)...)
	if _, err := io.ReadFull(r, buf[fixedLen:]); err != nil {
		return Header{}, malformed("reading %d bytes of addresses: %v", n, err)
	}
	h, _, err := Parse(buf)
	return h, err
}

// Parse parses the header at the start of b and returns its length.
func Parse(b []byte) (Header, int, error) {
	if len(b) < fixedLen {
		return Header{}, 0, malformed("%d bytes, shorter than the fixed part", len(b))
	}
	if !bytes.Equal(b[:len(signature)], signature[:]) {
		return Header{}, 0, malformed("no v2 signature")
	}
	// §2.2: the version "must always be sent as \x2 and the receiver must
	// only accept this value"; unassigned commands must be dropped.
	if v := b[12] >> 4; v != 2 {
		return Header{}, 0, malformed("version %d", v)
	}
	cmd := Command(b[12] & 0x0F)
	if cmd != Local && cmd != Proxy {
		return Header{}, 0, malformed("command %#x", uint8(cmd))
	}
	famProto := b[13]
	var addrLen int
	switch famProto {
	case unspec:
	case tcp4, udp4:
		addrLen = addrLenIPv4
	case tcp6, udp6:
		addrLen = addrLenIPv6
	case unixStream, unixDgram:
		addrLen = addrLenUnix
	default:
		return Header{}, 0, malformed("family and protocol %#02x", famProto)
	}
	n := int(binary.BigEndian.Uint16(b[14:fixedLen]))
	total := fixedLen + n
	if len(b) < total {
		return Header{}, 0, malformed("%d bytes announced, %d there", n, len(b)-fixedLen)
	}
	if n < addrLen {
		return Header{}, 0, malformed("%d bytes of addresses, the family needs %d", n, addrLen)
	}
	hdr := b[:total]
	// Past the addresses come TLVs (§2.2). Of an unspecified family the
	// whole block is to be ignored, TLVs or not.
	if famProto != unspec {
		if err := checkTLVs(hdr, fixedLen+addrLen); err != nil {
			return Header{}, 0, err
		}
	}
	h := Header{Command: cmd}
	if cmd == Local {
		// §2.2: "must use the real connection endpoints and discard the
		// protocol block including the family".
		return h, total, nil
	}
	a := hdr[fixedLen:]
	switch famProto {
	case tcp4:
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[0:4])), binary.BigEndian.Uint16(a[8:10]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[4:8])), binary.BigEndian.Uint16(a[10:12]))
	case tcp6:
		// An IPv4 client relayed over IPv6 is an IPv4 client.
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[0:16])).Unmap(), binary.BigEndian.Uint16(a[32:34]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[16:32])).Unmap(), binary.BigEndian.Uint16(a[34:36]))
	default:
		// §2.2 lets a receiver refuse what it does not support rather than
		// take the proxy's own address for the client's: one address for
		// every client would defeat the checks that use it.
		return Header{}, 0, malformed("PROXY for family and protocol %#02x: only TCP is relayed here", famProto)
	}
	return h, total, nil
}

// checkTLVs checks that hdr[off:] is a sequence of whole TLVs (§2.2) and
// that a CRC32C among them (§2.2.3) matches the header.
func checkTLVs(hdr []byte, off int) error {
	for rest := hdr[off:]; len(rest) > 0; {
		if len(rest) < 3 {
			return malformed("%d bytes left, too short for a TLV", len(rest))
		}
		typ, n := rest[0], int(binary.BigEndian.Uint16(rest[1:3]))
		if len(rest) < 3+n {
			return malformed("TLV %#02x of %d bytes overruns the header", typ, n)
		}
		if typ == tlvCRC32C {
			if n != 4 {
				return malformed("CRC32C TLV of %d bytes", n)
			}
			at := len(hdr) - len(rest) + 3
			want := binary.BigEndian.Uint32(hdr[at : at+4])
			zeroed := bytes.Clone(hdr)
			clear(zeroed[at : at+4])
			if got := crc32.Checksum(zeroed, crc32.MakeTable(crc32.Castagnoli)); got != want {
				// §2.2.3: "the receiver MUST treat the TCP connection
				// providing the header as invalid".
				return malformed("CRC32C %#08x, computed %#08x", want, got)
			}
		}
		rest = rest[3+n:]
	}
	return nil
}

// Marshal returns h as a v2 header, without TLVs: a Proxy command over TCP
// (over IPv4 when both addresses are IPv4, else IPv6), or a Local one.
// Tests and tools use it to play the proxy.
func (h Header) Marshal() []byte {
	b := append([]byte(nil), signature[:]...)
	if h.Command != Proxy {
		return append(b, 0x20|byte(Local), unspec, 0, 0)
	}
	src, dst := h.Source.Addr(), h.Destination.Addr()
	if src.Is4() && dst.Is4() {
		b = append(b, 0x20|byte(Proxy), tcp4, 0, addrLenIPv4)
		b = append(b, src.AsSlice()...)
		b = append(b, dst.AsSlice()...)
	} else {
		b = append(b, 0x20|byte(Proxy), tcp6, 0, addrLenIPv6)
		s16, d16 := src.As16(), dst.As16()
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, h.Source.Port())
	return binary.BigEndian.AppendUint16(b, h.Destination.Port())
}
