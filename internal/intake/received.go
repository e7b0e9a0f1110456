package intake

import (
	"net/netip"
	"strings"
	"time"

	"sendpool/internal/queue"
)

// ReceivedRoom is the room a way in keeps free in front of a submission's
// body (Submission.Room) for the Received field: enough for a long EHLO
// name and recipient; a longer field costs one copy of the message.
const ReceivedRoom = 1024

// receivedField returns the trace field of RFC 5321 §4.4 (syntax of RFC
// 5322 §3.6.7) that Accept puts on top of each message: who connected,
// what they called themselves, how (RFC 3848 protocol names; "HTTP" for
// /send, which has none), the message id and when. The recipient is named
// only when there is one: listing many would tell each recipient about
// the others.
func receivedField(helo string, ip netip.Addr, by, protocol, id string, rcpts []string, t time.Time) []byte {
	var b strings.Builder
	b.WriteString("Received: from ")
	literal := addressLiteral(ip)
	if h := heloName(helo); h != "" {
		b.WriteString(h + " (" + literal + ")")
	} else {
		b.WriteString(literal)
	}
	b.WriteString("\r\n\tby " + by + " (sendpool) with " + protocol + " id " + id)
	if len(rcpts) == 1 {
		b.WriteString("\r\n\tfor <" + rcpts[0] + ">")
	}
	b.WriteString(";\r\n\t" + t.Format(time.RFC1123Z) + "\r\n")
	return []byte(b.String())
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

// withReceived puts the Received field f on top of the message in
// body[room:], in the free room before it when it fits (no copy of the
// message).
func withReceived(body []byte, room int, f []byte) []byte {
	if len(f) <= room {
		out := body[room-len(f):]
		copy(out, f)
		return out
	}
	return append(f, body[room:]...)
}

// protocol is the RFC 3848 "with" keyword of sub: ESMTP, S with TLS, A
// with SMTP AUTH; "HTTP" for /send.
func protocol(sub *Submission) string {
	if sub.Via == queue.ProtocolHTTP {
		return "HTTP"
	}
	p := "ESMTP"
	if sub.TLS {
		p += "S"
	}
	if sub.Auth == queue.AuthPassword {
		p += "A"
	}
	return p
}
