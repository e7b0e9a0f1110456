// Package received writes the Received trace field (RFC 5321 §4.4) that
// sendpool puts on top of every message it accepts, submitted (intake)
// or received as an MX (inbound).
package received

import (
	"net/netip"
	"strings"
	"time"
)

// Room is the room a reader keeps free in front of a message's body for
// the field: enough for a long EHLO name and recipient; a longer field
// costs one copy of the message (Prepend).
const Room = 1024

// Field returns the trace field (syntax of RFC 5322 §3.6.7): who
// connected, what they called themselves, how (the RFC 3848 "with"
// keyword; "HTTP" for /send, which has none), the message id and when.
// The recipient is named only when there is one: listing many would tell
// each recipient about the others.
func Field(helo string, ip netip.Addr, by, with, id string, rcpts []string, t time.Time) []byte {
	var b strings.Builder
	b.WriteString("Received: from ")
	literal := addressLiteral(ip)
	if h := heloName(helo); h != "" {
		b.WriteString(h + " (" + literal + ")")
	} else {
		b.WriteString(literal)
	}
	b.WriteString("\r\n\tby " + by + " (sendpool) with " + with + " id " + id)
	if len(rcpts) == 1 {
		b.WriteString("\r\n\tfor <" + rcpts[0] + ">")
	}
	b.WriteString(";\r\n\t" + t.Format(time.RFC1123Z) + "\r\n")
	return []byte(b.String())
}

// With is the RFC 3848 keyword of an SMTP session: ESMTP, S with TLS, A
// with SMTP AUTH.
func With(tls, auth bool) string {
	p := "ESMTP"
	if tls {
		p += "S"
	}
	if auth {
		p += "A"
	}
	return p
}

// Prepend puts the field f on top of the message in body[room:], in the
// free room before it when it fits (no copy of the message).
func Prepend(body []byte, room int, f []byte) []byte {
	if len(f) <= room {
		out := body[room-len(f):]
		copy(out, f)
		return out
	}
	return append(f, body[room:]...)
}

// addressLiteral formats ip as RFC 5321 §4.1.3 does.
func addressLiteral(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "[unknown]"
	case ip.Is4():
		return "[" + ip.String() + "]"
	}
	return "[IPv6:" + ip.String() + "]"
}

// heloName returns the EHLO argument if it is safe to copy into a header
// (a domain or address literal: letters, digits and . - : [ ]), else "".
// The client chooses it, so it must not be able to add lines or comments.
func heloName(h string) string {
	if h == "" || len(h) > 255 {
		return ""
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-:[]_", c) >= 0) {
			return ""
		}
	}
	return h
}
