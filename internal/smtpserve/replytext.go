package smtpserve

// cleanReply returns p with every control character of a plaintext reply
// line replaced by '?', or p itself when there is none.
//
// go-smtp copies client bytes into some replies as they are: the verb of an
// unknown command ("500 5.5.2 Syntax errors, X command unrecognized") and
// the EHLO/HELO name ("250 Hello X"). A bare CR, NUL or ESC there makes a
// reply that is not text (RFC 5321 §4.2: textstring is HT and %d32-126, to
// which SMTPUTF8 adds UTF-8), which clients may misparse. It can go once
// go-smtp cleans its echoes itself.
//
// go-smtp writes each reply line with one Write (textproto flushes per
// line). Only writes that look like one are touched: three digits, then
// text, then CRLF. TLS records never start with a digit (their first byte
// is a content type, 20 to 24), so ciphertext after STARTTLS passes as it
// is; replies inside TLS are not cleaned.
func cleanReply(p []byte) []byte {
	if len(p) < 6 || !isDigit(p[0]) || !isDigit(p[1]) || !isDigit(p[2]) ||
		p[len(p)-2] != '\r' || p[len(p)-1] != '\n' {
		return p
	}
	text := p[:len(p)-2]
	var out []byte
	for i, c := range text {
		if c >= 0x20 && c != 0x7f || c == '\t' {
			continue
		}
		if out == nil {
			out = append([]byte(nil), p...)
		}
		out[i] = '?'
	}
	if out == nil {
		return p
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
