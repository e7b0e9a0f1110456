package sandbox

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Replies of the sink (RFC 5321 §4.2, enhanced codes RFC 3463).
const (
	sinkReplyReady        = "220"
	sinkReplyStartTLS     = "220 2.0.0 Ready to start TLS"
	sinkReplyBye          = "221 2.0.0 Bye"
	sinkReplyOK           = "250 2.0.0 Ok"
	sinkReplyStartData    = "354 End data with <CR><LF>.<CR><LF>"
	sinkReplyTooMany      = "452 4.5.3 Too many recipients"
	sinkReplyUnknown      = "500 5.5.2 Command not recognized"
	sinkReplySyntax       = "501 5.5.4 Syntax error"
	sinkReplyNoTLS        = "502 5.5.1 STARTTLS not available"
	sinkReplyBadSequence  = "503 5.5.1 Bad sequence of commands"
	sinkReplyNoRcpts      = "554 5.5.1 No valid recipients"
	sinkReplyTooBig       = "552 5.3.4 Message too big"
	sinkReplyBadParam     = "555 5.5.4 Unsupported parameter"
	sinkReplyLineTooLong  = "500 5.5.6 Line too long"
	sinkMaxSize           = 64 << 20
	sinkMaxRcpts          = 1000
	sinkMaxCommandLine    = 4096 // RFC 5321 §4.5.3.1.4 says 512; be lenient
	sinkIdleTimeout       = 5 * time.Minute
	sinkHandshakeDeadline = 30 * time.Second
	sinkReadBuffer        = 64 << 10 // a message's lines in few reads
)

var errSinkLineTooLong = errors.New("line too long")

type sinkSession struct {
	s   *Sink
	c   net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	rec *Conn
	ip  string

	// dataBuf is the message being read, its memory reused from one message
	// to the next: record keeps a copy. In a load run the sinks share the
	// CPU with the server, and at 100 KB a fresh growing buffer each time
	// showed in the bench's own CPU.
	dataBuf bytes.Buffer
	logBuf  []byte // the log line being made (SinkConfig.Parse), reused

	reset bool // close with RST (Rule.Reset)

	ehlo  string
	tls   bool
	mail  bool // a transaction is open
	from  string
	rcpts []string
}

func newSinkSession(s *Sink, c net.Conn, rec *Conn) *sinkSession {
	return &sinkSession{s: s, c: c, r: bufio.NewReaderSize(c, sinkReadBuffer), w: bufio.NewWriter(c), rec: rec, ip: rec.SourceIP}
}

func (ss *sinkSession) event(stage string) Event {
	return Event{Stage: stage, SourceIP: ss.ip, EHLO: ss.ehlo, TLS: ss.tls, From: ss.from, To: append([]string(nil), ss.rcpts...)}
}

// reply writes text, a reply of one or more lines separated by \n, each
// with or without its code; the first line's code is used for all.
func (ss *sinkSession) reply(text string) error {
	ss.w.Write(formatReply(text))
	// RFC 2920 §3.2: replies to a group go out together, when no more
	// input waits (serve flushes on the way out, too).
	if ss.r.Buffered() > 0 {
		return nil
	}
	return ss.w.Flush()
}

// formatReply makes the lines reply writes.
func formatReply(text string) []byte {
	lines := strings.Split(strings.TrimRight(text, "\r\n"), "\n")
	code := lines[0]
	if len(code) > 3 {
		code = code[:3]
	}
	var b []byte
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if len(l) >= 3 && l[:3] == code && (len(l) == 3 || l[3] == ' ' || l[3] == '-') {
			l = strings.TrimLeft(l[3:], " -")
		}
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		b = fmt.Appendf(b, "%s%s%s\r\n", code, sep, l)
	}
	return b
}

// answer applies a scripted reply r (nil: none) in place of def, and says
// what was sent and whether the session goes on.
func (ss *sinkSession) answer(r *Reply, def string) (sent string, goOn bool) {
	if r == nil {
		return def, ss.reply(def) == nil
	}
	if r.Hang {
		ss.hang()
		return def, false
	}
	ss.s.wait(r.Delay)
	sent = def
	if r.Text != "" {
		sent = r.Text
	}
	ss.reset = r.Reset
	if r.Text != "" || !r.Drop {
		if ss.send(r, sent) != nil {
			return sent, false
		}
	}
	return sent, !r.Drop && !r.Endless
}

func sinkPositive(reply string) bool { return len(reply) > 0 && (reply[0] == '2' || reply[0] == '3') }

func (ss *sinkSession) serve() {
	defer func() { ss.w.Flush() }() // replies held for a group, then a drop
	banner := sinkReplyReady + " " + ss.s.cfg.Hostname + " ESMTP sendpool sandbox"
	sent, ok := ss.answer(ss.s.decide(ss.event(StageGreeting), nil), banner)
	if !ok {
		return
	}
	if !sinkPositive(sent) {
		ss.refused()
		return
	}
	for {
		waited := ss.r.Buffered() == 0 // this command starts a new group
		line, err := ss.readLine()
		if errors.Is(err, errSinkLineTooLong) {
			if ss.reply(sinkReplyLineTooLong) != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		ss.s.command(ss.rec, verb, waited)
		if !ss.command(verb, strings.TrimSpace(arg)) {
			return
		}
	}
}

// refused serves a session whose greeting was negative: RFC 5321 §3.1 has
// the server wait for QUIT and answer 503 to anything else.
func (ss *sinkSession) refused() {
	for {
		line, err := ss.readLine()
		if err != nil && !errors.Is(err, errSinkLineTooLong) {
			return
		}
		if strings.EqualFold(strings.TrimSpace(line), "QUIT") {
			ss.reply(sinkReplyBye)
			return
		}
		if ss.reply(sinkReplyBadSequence) != nil {
			return
		}
	}
}

func (ss *sinkSession) readLine() (string, error) {
	ss.c.SetReadDeadline(time.Now().Add(sinkIdleTimeout))
	var buf []byte
	for {
		chunk, err := ss.r.ReadSlice('\n')
		if len(buf)+len(chunk) > sinkMaxCommandLine {
			if err == nil {
				return "", errSinkLineTooLong
			}
			buf = buf[:0] // keep discarding until the line ends
		} else {
			buf = append(buf, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(buf), "\r\n"), nil
	}
}

// command handles one command line; false ends the session.
func (ss *sinkSession) command(verb, arg string) bool {
	switch verb {
	case "EHLO", "HELO":
		return ss.hello(verb, arg)
	case "STARTTLS":
		return ss.startTLS()
	case "MAIL":
		return ss.mailFrom(arg)
	case "RCPT":
		return ss.rcptTo(arg)
	case "DATA":
		return ss.data()
	case "RSET":
		ss.resetTx()
		return ss.reply(sinkReplyOK) == nil
	case "NOOP":
		return ss.reply(sinkReplyOK) == nil
	case "QUIT":
		ss.reply(sinkReplyBye)
		return false
	}
	return ss.reply(sinkReplyUnknown) == nil
}

func (ss *sinkSession) resetTx() {
	ss.mail, ss.from, ss.rcpts = false, "", nil
}

func (ss *sinkSession) hello(verb, name string) bool {
	if name == "" {
		return ss.reply(sinkReplySyntax) == nil
	}
	ss.resetTx()
	ss.ehlo = name
	ss.s.setConn(ss.rec, ss.ehlo, ss.tls)
	def := "250 " + ss.s.cfg.Hostname + " greets " + name
	if verb == "EHLO" {
		ext := []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE " + strconv.Itoa(sinkMaxSize)}
		if ss.s.tlsConfig() != nil && !ss.tls {
			ext = append(ext, "STARTTLS")
		}
		def += "\n" + strings.Join(ext, "\n")
	}
	_, ok := ss.answer(ss.s.decide(ss.event(StageEHLO), nil), def)
	return ok
}

func (ss *sinkSession) startTLS() bool {
	cfg := ss.s.tlsConfig()
	if cfg == nil || ss.tls {
		return ss.reply(sinkReplyNoTLS) == nil
	}
	// Commands pipelined after STARTTLS would be injected into the TLS
	// session (RFC 3207 §5 and CVE-2011-0411): refuse them.
	if ss.r.Buffered() > 0 {
		ss.reply(sinkReplyBadSequence)
		return false
	}
	if ss.reply(sinkReplyStartTLS) != nil {
		return false
	}
	tc := tls.Server(ss.c, cfg)
	tc.SetDeadline(time.Now().Add(sinkHandshakeDeadline))
	if err := tc.Handshake(); err != nil {
		ss.s.log.Info("sink tls handshake failed", "source_ip", ss.ip, "err", err)
		return false
	}
	tc.SetDeadline(time.Time{})
	// RFC 3207 §4.2: forget everything learnt before TLS.
	ss.c, ss.r, ss.w = tc, bufio.NewReaderSize(tc, sinkReadBuffer), bufio.NewWriter(tc)
	ss.tls, ss.ehlo = true, ""
	ss.resetTx()
	ss.s.setConn(ss.rec, "", true)
	ss.s.setResumed(ss.rec, tc.ConnectionState().DidResume)
	return true
}

// path parses "FROM:<addr> PARAMS" after the given prefix.
func sinkPath(arg, prefix string) (addr string, params []string, ok bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", nil, false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", nil, false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", nil, false
	}
	return rest[1:end], strings.Fields(rest[end+1:]), true
}

func (ss *sinkSession) mailFrom(arg string) bool {
	if ss.ehlo == "" || ss.mail {
		return ss.reply(sinkReplyBadSequence) == nil
	}
	from, params, ok := sinkPath(arg, "FROM:")
	if !ok {
		return ss.reply(sinkReplySyntax) == nil
	}
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		switch strings.ToUpper(k) {
		case "SIZE": // RFC 1870
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return ss.reply(sinkReplySyntax) == nil
			}
			if n > sinkMaxSize {
				return ss.reply(sinkReplyTooBig) == nil
			}
		case "BODY": // RFC 6152
			if u := strings.ToUpper(v); u != "7BIT" && u != "8BITMIME" {
				return ss.reply(sinkReplyBadParam) == nil
			}
		case "SMTPUTF8": // RFC 6531
		default:
			return ss.reply(sinkReplyBadParam) == nil
		}
	}
	ss.from = from
	sent, ok := ss.answer(ss.s.decide(ss.event(StageMail), nil), sinkReplyOK)
	if ok && sent[0] == '2' {
		ss.mail = true
	} else {
		ss.from = ""
	}
	return ok
}

func (ss *sinkSession) rcptTo(arg string) bool {
	if !ss.mail {
		return ss.reply(sinkReplyBadSequence) == nil
	}
	rcpt, _, ok := sinkPath(arg, "TO:")
	if !ok || rcpt == "" {
		return ss.reply(sinkReplySyntax) == nil
	}
	if len(ss.rcpts) >= sinkMaxRcpts {
		return ss.reply(sinkReplyTooMany) == nil
	}
	ev := ss.event(StageRcpt)
	ev.Rcpt = rcpt
	sent, ok := ss.answer(ss.s.decide(ev, []string{rcpt}), sinkReplyOK)
	if ok && sent[0] == '2' {
		ss.rcpts = append(ss.rcpts, rcpt)
	}
	return ok
}

func (ss *sinkSession) data() bool {
	if !ss.mail {
		return ss.reply(sinkReplyBadSequence) == nil
	}
	if len(ss.rcpts) == 0 {
		return ss.reply(sinkReplyNoRcpts) == nil
	}
	r := ss.s.decide(ss.event(StageData), ss.rcpts)
	if r != nil && r.Drop {
		// Mid-DATA drop: go as far as reading the first line of data.
		ss.s.wait(r.Delay)
		ss.reset = r.Reset
		text := sinkReplyStartData
		if r.Text != "" {
			text = r.Text
		}
		if ss.reply(text) == nil && text[0] == '3' {
			ss.readLine()
		}
		return false
	}
	sent, ok := ss.answer(r, sinkReplyStartData)
	if !ok {
		return false
	}
	if sent[0] != '3' {
		return true
	}
	body, tooBig, err := ss.readData()
	if err != nil {
		return false
	}
	if tooBig {
		ss.resetTx()
		return ss.reply(sinkReplyTooBig) == nil
	}
	m := Message{SourceIP: ss.ip, EHLO: ss.ehlo, TLS: ss.tls, From: ss.from, To: ss.rcpts, Data: body, At: time.Now()}
	r = ss.s.decide(ss.event(StageEOD), ss.rcpts)
	ss.resetTx()
	text := fmt.Sprintf("250 2.0.0 Ok: queued as %d", time.Now().UnixNano())
	if r == nil {
		r = &Reply{}
	}
	if r.Hang {
		ss.hang() // never taken: nothing recorded
		return false
	}
	ss.s.wait(r.Delay)
	ss.reset = r.Reset
	if r.Text != "" {
		text = r.Text
	}
	// Dropped without a reply: the sender cannot know whether the message
	// was taken. It was not, unless the rule keeps it (Rule.Keep).
	lost := r.Text == "" && r.Drop
	if lost && !r.Keep {
		return false
	}
	// Recorded before the reply goes out, so that whoever saw the reply
	// finds the message.
	if text[0] == '2' {
		var p *parsedMessage
		if ss.s.cfg.Parse {
			parsed := parseMessage(m.Data)
			p = &parsed
			if ss.s.logw != nil {
				ss.logBuf = appendLogLine(ss.logBuf[:0], &m, p)
			}
		}
		ss.s.record(m, p, ss.logBuf)
	}
	if lost {
		return false
	}
	return ss.send(r, text) == nil && !r.Drop && !r.Endless
}

// readData reads the message up to <CRLF>.<CRLF>, undoing dot-stuffing
// (RFC 5321 §4.5.2). A lone LF never ends it (SMTP smuggling).
func (ss *sinkSession) readData() (body []byte, tooBig bool, err error) {
	buf := &ss.dataBuf
	buf.Reset()
	lineStart, afterCRLF := true, true // the DATA line ended in CRLF
	var last byte
	unread := 0 // bytes read since the deadline was moved
	for {
		// The deadline moves once per buffer's worth, not per line: the
		// timer it resets cost more than reading the line.
		if unread == 0 || unread > sinkReadBuffer {
			ss.c.SetReadDeadline(time.Now().Add(sinkIdleTimeout))
			unread = 0
		}
		chunk, err := ss.r.ReadSlice('\n')
		unread += len(chunk) + 1
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, false, err
		}
		full := err == nil
		if full && lineStart && afterCRLF && string(chunk) == ".\r\n" {
			return buf.Bytes(), tooBig, nil
		}
		out := chunk
		if lineStart && afterCRLF && out[0] == '.' {
			out = out[1:]
		}
		if buf.Len()+len(out) > sinkMaxSize {
			tooBig = true
		} else {
			buf.Write(out)
		}
		if full {
			n := len(chunk)
			afterCRLF = (n >= 2 && chunk[n-2] == '\r') || (n == 1 && last == '\r')
		}
		last = chunk[len(chunk)-1]
		lineStart = full
	}
}
