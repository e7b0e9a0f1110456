package sandbox

import (
	"bufio"
	"bytes"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// ParseStats are what a parsing sink (SinkConfig.Parse) found in the
// messages it accepted.
type ParseStats struct {
	Parsed int // messages whose header the sink read
	// Failed counts the headers that did not parse, or lack the From or
	// Date field every message must have (RFC 5322 §3.6), or whose From
	// holds no address.
	Failed int
	// Signed counts the messages with at least one DKIM-Signature field
	// (RFC 6376 §3.5); whether one was due is the caller's to judge.
	Signed int
}

// sinkLogBuffer is the size of a parsing sink's log buffer: the log is
// written in blocks, not a system call per message.
const sinkLogBuffer = 64 << 10

// parsedMessage is one message's header as a parsing sink read it.
type parsedMessage struct {
	ok     bool
	reason string // why not ok
	msgID  string
	from   string
	dkim   []string // "d/a" of each DKIM-Signature, in order
}

// parseMessage reads data's header as a receiving MX does before its 250:
// net/mail's parser, the From address, the Date, the DKIM-Signature tags.
// The body is not read.
func parseMessage(data []byte) parsedMessage {
	m, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return parsedMessage{reason: "header: " + err.Error()}
	}
	h := m.Header
	p := parsedMessage{msgID: h.Get("Message-Id")}
	for _, sig := range h["Dkim-Signature"] {
		p.dkim = append(p.dkim, dkimTag(sig, "d")+"/"+dkimTag(sig, "a"))
	}
	from, err := mail.ParseAddressList(h.Get("From"))
	switch {
	case err != nil:
		p.reason = "From: " + err.Error()
		return p
	case len(from) == 0:
		p.reason = "From: no address"
		return p
	}
	p.from = from[0].Address
	if _, err := h.Date(); err != nil {
		p.reason = "Date: " + err.Error()
		return p
	}
	p.ok = true
	return p
}

// dkimTag is the value of tag name in a DKIM-Signature field's tag list
// (RFC 6376 §3.2), white space removed; "" when absent.
func dkimTag(field, name string) string {
	for tag := range strings.SplitSeq(field, ";") {
		k, v, ok := strings.Cut(tag, "=")
		if ok && strings.TrimSpace(k) == name {
			return strings.Join(strings.Fields(v), "")
		}
	}
	return ""
}

// appendLogLine appends the one line a parsing sink logs for m, much as a
// receiving MX logs its decision: when, who sent it, the envelope, the
// size, the header's Message-ID and From, the DKIM signatures seen.
func appendLogLine(b []byte, m *Message, p *parsedMessage) []byte {
	b = m.At.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, " ip="...)
	b = append(b, m.SourceIP...)
	b = append(b, " helo="...)
	b = append(b, m.EHLO...)
	b = append(b, " tls="...)
	b = strconv.AppendBool(b, m.TLS)
	b = append(b, " from=<"...)
	b = append(b, m.From...)
	b = append(b, '>')
	for _, to := range m.To {
		b = append(b, " to=<"...)
		b = append(b, to...)
		b = append(b, '>')
	}
	b = append(b, " size="...)
	b = strconv.AppendInt(b, int64(len(m.Data)), 10)
	b = append(b, " message-id="...)
	b = append(b, p.msgID...)
	b = append(b, " header-from=<"...)
	b = append(b, p.from...)
	b = append(b, "> dkim="...)
	if len(p.dkim) == 0 {
		b = append(b, "none"...)
	}
	b = append(b, strings.Join(p.dkim, ",")...)
	if p.ok {
		b = append(b, " status=ok\n"...)
	} else {
		b = append(b, " status=malformed reason="...)
		b = strconv.AppendQuote(b, p.reason)
		b = append(b, '\n')
	}
	return b
}
