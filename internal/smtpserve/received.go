package smtpserve

import (
	"net/netip"
	"strings"
	"time"
)

// ReceivedRoom is the room Data keeps in front of the message for the
// Received header: enough for a long EHLO name and recipient; a longer
// header costs one copy of the body.
const ReceivedRoom = 1024

// ReceivedHeader returns the trace header of RFC 5321 §4.4 (syntax of
// RFC 5322 §3.6.7) that we prepend to each message: who connected, what
// they called themselves, how (RFC 3848 protocol names), the message id
// and when. The recipient is named only when there is one: listing many
// would tell each recipient about the others.
func ReceivedHeader(helo string, ip netip.Addr, by, protocol, id string, rcpts []string, t time.Time) []byte {
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
