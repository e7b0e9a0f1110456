package deliver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// writeData writes parts, one message in order (e.g. header fields to
// prepend, then the stored message), as DATA content, then the end-of-data
// line, and flushes. Every line ends in CRLF (a bare LF becomes one, RFC
// 5321 §2.3.8), a line that starts with a dot gets another (dot-stuffing,
// RFC 5321 §4.5.2), and a last line without an end gets one.
//
// The parts are written in place: runs of lines that need no change go to
// w as slices of the part, which bufio hands to the connection without
// copying once they exceed its free space. Only the bytes a fix touches
// are written apart. No copy of the whole message is made per delivery.
// A part is expected to end at a line end; one that does not is joined to
// the next part's first line, as a single message would be.
func writeData(w *bufio.Writer, parts ...[]byte) error {
	d := dataWriter{w: w, lineStart: true}
	for _, p := range parts {
		d.write(p)
	}
	return d.end()
}

// writeDataFrom is writeData of the body r gives (a large stored one, read
// a chunk at a time: issue 13), after the parts.
func writeDataFrom(w *bufio.Writer, r io.Reader, parts ...[]byte) error {
	d := dataWriter{w: w, lineStart: true}
	for _, p := range parts {
		d.write(p)
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		d.write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			// The DATA content cannot be ended cleanly: the caller drops
			// the connection, so nothing truncated is ever accepted.
			return fmt.Errorf("reading the message: %w", err)
		}
	}
	return d.end()
}

// dataWriter is writeData's state between parts.
type dataWriter struct {
	w         *bufio.Writer
	lineStart bool // the next byte starts a line
	afterCR   bool // the byte before is a CR
}

// write writes one part (see writeData).
func (d *dataWriter) write(p []byte) {
	w := d.w
	lineStart, afterCR := d.lineStart, d.afterCR
	defer func() { d.lineStart, d.afterCR = lineStart, afterCR }()
	if len(p) == 0 {
		return
	}
	// A line that started in an earlier part and whose CR was that
	// part's last byte: an LF here completes the CRLF.
	if afterCR && p[0] == '\n' {
		w.WriteByte('\n')
		p = p[1:]
		lineStart, afterCR = true, false
	}
	from := 0 // start of the run not yet written
	for i := 0; i < len(p); {
		if lineStart && p[i] == '.' {
			w.Write(p[from:i])
			w.WriteByte('.') // the stuffed dot; p[i] follows with the run
			from = i
		}
		nl := bytes.IndexByte(p[i:], '\n')
		if nl < 0 {
			afterCR = p[len(p)-1] == '\r'
			lineStart = false
			break
		}
		nl += i
		if nl == 0 || p[nl-1] != '\r' { // at 0: bare, the CR-before case was taken above
			w.Write(p[from:nl])
			w.WriteByte('\r') // p[nl], the LF, follows with the run
			from = nl
		}
		i = nl + 1
		lineStart, afterCR = true, false
	}
	w.Write(p[from:])
}

// end completes the last line, writes the end-of-data line and flushes.
func (d *dataWriter) end() error {
	w := d.w
	if !d.lineStart {
		if d.afterCR {
			w.WriteByte('\n') // a final CR alone: make it CRLF
		} else {
			w.WriteString("\r\n")
		}
	}
	w.WriteString(".\r\n")
	return w.Flush()
}
