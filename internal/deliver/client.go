package deliver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/smtpreply"
)

// Reply codes the client acts on (RFC 5321 §4.2.3).
const (
	codeReady     = 220 // greeting; go ahead with STARTTLS (RFC 3207 §4)
	codeStartData = 354
)

// Limits on what a receiver may send back, so that a broken or hostile
// server cannot make us buffer without end.
const (
	maxReplyLine  = 4096
	maxReplyLines = 256
)

// reply is one SMTP reply, possibly of several lines.
type reply struct {
	code  int
	lines []string // text after "CODE-" or "CODE "
}

// class is the first digit of the code: 2 done, 3 go on, 4 try later, 5 no.
func (r reply) class() int { return r.code / 100 }

// String is the reply on one line, "CODE ENH text", as classified and
// recorded. Continuation lines lose a repeated enhanced code.
func (r reply) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.code))
	enh := ""
	for i, l := range r.lines {
		if i == 0 {
			enh, _, _ = strings.Cut(l, " ")
			if !smtpreply.IsEnhanced(enh) {
				enh = ""
			}
		} else if enh != "" {
			l = strings.TrimPrefix(strings.TrimPrefix(l, enh), " ")
		}
		if l != "" {
			b.WriteByte(' ')
			b.WriteString(l)
		}
	}
	return b.String()
}

var (
	// errProtocol is a reply that is not SMTP.
	errProtocol = errors.New("malformed SMTP reply")
	// errClosed is a receiver that hung up instead of replying.
	errClosed = errors.New("connection closed by the receiver")
)

// client is the sending side of one SMTP connection.
type client struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	ctx  context.Context
}

func newClient(ctx context.Context, conn net.Conn) *client {
	// A large write buffer sends a typical message in one or two writes
	// rather than one every 4 KiB.
	return &client{conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriterSize(conn, writeBuffer), ctx: ctx}
}

// writeBuffer is the size of a connection's write buffer.
const writeBuffer = 32 << 10

// setDeadline bounds the next exchange by d and by ctx.
func (c *client) setDeadline(d time.Duration) {
	t := time.Now().Add(d)
	if dl, ok := c.ctx.Deadline(); ok && dl.Before(t) {
		t = dl
	}
	c.conn.SetDeadline(t)
	// A cancellation that raced with the line above must still win.
	if c.ctx.Err() != nil {
		c.conn.SetDeadline(time.Unix(1, 0))
	}
}

// readReply reads one reply, all its lines.
func (c *client) readReply() (reply, error) {
	var r reply
	for {
		line, err := c.readLine()
		if err != nil {
			return reply{}, err
		}
		if len(line) < 3 {
			return reply{}, fmt.Errorf("%w: %q", errProtocol, line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || code < 200 || code > 599 || (r.code != 0 && code != r.code) {
			return reply{}, fmt.Errorf("%w: %q", errProtocol, line)
		}
		r.code = code
		more := len(line) > 3 && line[3] == '-'
		if len(line) > 3 && line[3] != '-' && line[3] != ' ' {
			return reply{}, fmt.Errorf("%w: %q", errProtocol, line)
		}
		if len(line) > 4 {
			r.lines = append(r.lines, line[4:])
		} else {
			r.lines = append(r.lines, "")
		}
		if !more {
			return r, nil
		}
		if len(r.lines) >= maxReplyLines {
			return reply{}, fmt.Errorf("%w: more than %d lines", errProtocol, maxReplyLines)
		}
	}
}

func (c *client) readLine() (string, error) {
	var buf []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxReplyLine {
			return "", fmt.Errorf("%w: line longer than %d", errProtocol, maxReplyLine)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			return "", errClosed
		}
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(buf), "\r\n"), nil
	}
}

// send queues one command line; flush sends what is queued.
func (c *client) send(format string, args ...any) error {
	_, err := fmt.Fprintf(c.w, format+"\r\n", args...)
	return err
}

func (c *client) flush() error { return c.w.Flush() }

// cmd sends one command and reads its reply within timeout.
func (c *client) cmd(timeout time.Duration, format string, args ...any) (reply, error) {
	c.setDeadline(timeout)
	if err := c.send(format, args...); err != nil {
		return reply{}, err
	}
	if err := c.flush(); err != nil {
		return reply{}, err
	}
	return c.readReply()
}

// writeBody sends the message as DATA content and the end-of-data line
// (writeData).
func (c *client) writeBody(parts ...[]byte) error { return writeData(c.w, parts...) }

// writeStored sends a stored body as DATA content, from its chunks when it
// was stored in chunks (a large one: it is never held whole).
func (c *client) writeStored(b queue.StoredBody) error {
	if b.Open == nil {
		return writeData(c.w, b.Bytes)
	}
	r, err := b.Open()
	if err != nil {
		return fmt.Errorf("reading the message: %w", err)
	}
	defer r.Close()
	return writeDataFrom(c.w, r)
}

// extensions parses an EHLO reply's keywords (RFC 5321 §4.1.1.1), upper
// case, each with its parameters.
func extensions(r reply) map[string]string {
	ext := map[string]string{}
	for _, l := range r.lines[min(1, len(r.lines)):] {
		k, v, _ := strings.Cut(l, " ")
		ext[strings.ToUpper(k)] = v
	}
	return ext
}
