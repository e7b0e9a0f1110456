package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// Clamd scans with a clamd daemon over its INSTREAM command (clamd(8)):
// "zINSTREAM\0", then chunks each prefixed with its length as a 4-byte
// big-endian integer, then a zero length; clamd answers one line,
// "stream: OK" or "stream: NAME FOUND" ("… ERROR" when it could not scan).
// clamd decodes the MIME parts itself, base64 attachments included.
type Clamd struct {
	// Addr is "host:port", or the path of a Unix socket (starting with /).
	Addr string
	// Dialer is used to connect; nil: a net.Dialer.
	Dialer interface {
		DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	}
}

// clamdChunk is the size of one INSTREAM chunk; clamd's default
// StreamMaxLength (25 MB) bounds the total, not the chunk.
const clamdChunk = 64 << 10

// Name implements Scanner.
func (c *Clamd) Name() string { return "clamd" }

// Scan implements Scanner. A virus found is a Result with Virus set; a
// clamd that cannot be reached, times out or answers ERROR is an error.
func (c *Clamd) Scan(ctx context.Context, in *Input) (Result, error) {
	reply, err := c.instream(ctx, in.NewReader())
	if err != nil {
		return Result{}, err
	}
	return parseClamdReply(reply)
}

func (c *Clamd) instream(ctx context.Context, body io.Reader) (string, error) {
	network := "tcp"
	if strings.HasPrefix(c.Addr, "/") {
		network = "unix"
	}
	var d interface {
		DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	} = &net.Dialer{}
	if c.Dialer != nil {
		d = c.Dialer
	}
	conn, err := d.DialContext(ctx, network, c.Addr)
	if err != nil {
		return "", fmt.Errorf("clamd: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// Close on cancellation too, not only at the deadline.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	w := bufio.NewWriterSize(conn, clamdChunk+4)
	w.WriteString("zINSTREAM\x00")
	var size [4]byte
	chunk := make([]byte, clamdChunk)
	for {
		n, rerr := io.ReadFull(body, chunk)
		if n > 0 {
			binary.BigEndian.PutUint32(size[:], uint32(n))
			w.Write(size[:])
			w.Write(chunk[:n])
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return "", fmt.Errorf("clamd: reading the message: %w", rerr)
		}
	}
	binary.BigEndian.PutUint32(size[:], 0)
	w.Write(size[:])
	if err := w.Flush(); err != nil {
		// clamd closes early when the stream is over its limit; its reply
		// says so, if it can be read.
		if reply, rerr := readClamdReply(conn); rerr == nil && reply != "" {
			return reply, nil
		}
		return "", fmt.Errorf("clamd: send: %w", ctxErr(ctx, err))
	}
	reply, err := readClamdReply(conn)
	if err != nil {
		return "", fmt.Errorf("clamd: read reply: %w", ctxErr(ctx, err))
	}
	return reply, nil
}

// readClamdReply reads one reply, which ends with NUL (the z prefix).
func readClamdReply(conn net.Conn) (string, error) {
	r := bufio.NewReader(conn)
	line, err := r.ReadString(0)
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", err
	}
	return strings.TrimSpace(strings.TrimRight(line, "\x00")), nil
}

func parseClamdReply(reply string) (Result, error) {
	rest, ok := strings.CutPrefix(reply, "stream: ")
	if !ok {
		// "INSTREAM size limit exceeded. ERROR" has no "stream: ".
		return Result{}, fmt.Errorf("clamd: %s", reply)
	}
	switch {
	case rest == "OK":
		return Result{}, nil
	case strings.HasSuffix(rest, " FOUND"):
		name := strings.TrimSuffix(rest, " FOUND")
		return Result{Virus: name, Rules: []Hit{{Scanner: "clamd", Name: "VIRUS", Detail: name}}}, nil
	}
	return Result{}, fmt.Errorf("clamd: %s", reply)
}

// Ping asks clamd whether it is up (PING → PONG).
func (c *Clamd) Ping(ctx context.Context) error {
	network := "tcp"
	if strings.HasPrefix(c.Addr, "/") {
		network = "unix"
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, network, c.Addr)
	if err != nil {
		return fmt.Errorf("clamd: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return fmt.Errorf("clamd: %w", err)
	}
	reply, err := readClamdReply(conn)
	if err != nil {
		return fmt.Errorf("clamd: %w", err)
	}
	if !bytes.Equal([]byte(reply), []byte("PONG")) {
		return fmt.Errorf("clamd: PING answered %q", reply)
	}
	return nil
}

// ctxErr prefers the context's error (deadline, cancellation) to the
// network error it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// The connection's deadline is the context's: it may fire a moment
	// before the context says so.
	if _, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	}
	return err
}
