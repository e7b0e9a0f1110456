package spool

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
)

// Writer takes a body as it arrives: into memory, behind room bytes kept
// free for the fields written on top later (Received, DKIM-Signature), and
// into a file once past the threshold. In the file, every bare CR or LF
// becomes CRLF on the way (intake does the same to a body in memory,
// NormalizeLineEndings), so that a large body is never read twice for it.
// A Writer is for one body; Finish or Discard ends it.
type Writer struct {
	d    *Dir
	room int
	buf  []byte // room bytes, then the body while it is small
	f    *os.File
	w    *bytes.Buffer // the file's write buffer
	n    int64         // body bytes in the file
	cr   bool          // the last byte given was a CR not yet written
	last byte          // the last byte written to the file
}

// NewWriter returns a Writer for one body. It allocates nothing up front
// but the room, whatever size the client announces (SIZE=). A nil Dir
// keeps every body in memory.
func (d *Dir) NewWriter(room int) *Writer {
	return &Writer{d: d, room: room, buf: make([]byte, room, room+bytes.MinRead)}
}

// fileRoom is the room a spool file keeps in front of the body: a Received
// field and a few signatures fit (an RSA-2048 one is about 700 bytes); what
// does not goes in front in memory (Body.Prepend).
const fileRoom = 4096

// Write implements io.Writer.
func (w *Writer) Write(p []byte) (int, error) {
	if w.f == nil {
		if w.d == nil || len(w.buf)-w.room+len(p) <= w.d.threshold {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		if err := w.toFile(); err != nil {
			return 0, err
		}
	}
	w.normalize(p)
	if w.w.Len() >= 64<<10 {
		if _, err := w.w.WriteTo(w.f); err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
	}
	return len(p), nil
}

// ReadFrom implements io.ReaderFrom: a small body is read straight into
// its buffer, which grows as append grows it, with no copy buffer between.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for w.f == nil {
		w.buf = slices.Grow(w.buf, bytes.MinRead)
		n, err := r.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+n]
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		if w.d != nil && len(w.buf)-w.room > w.d.threshold {
			if err := w.toFile(); err != nil {
				return total, err
			}
		}
	}
	chunk := make([]byte, 64<<10)
	for {
		n, err := r.Read(chunk)
		if n > 0 {
			if _, werr := w.Write(chunk[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// toFile moves what is in memory to a new file.
func (w *Writer) toFile() error {
	f, err := w.d.create()
	if err != nil {
		return err
	}
	w.f, w.w = f, bytes.NewBuffer(make([]byte, 0, 128<<10))
	w.w.Write(make([]byte, fileRoom))
	w.normalize(w.buf[w.room:])
	w.buf = nil
	return nil
}

// normalize writes p to the file buffer with every bare CR or LF made
// CRLF: a run without either goes as it is.
func (w *Writer) normalize(p []byte) {
	for len(p) > 0 {
		if w.cr {
			w.cr = false
			w.w.WriteString("\r\n")
			w.n += 2
			w.last = '\n'
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			i = len(p)
		}
		if i > 0 {
			w.w.Write(p[:i])
			w.n += int64(i)
			w.last = p[i-1]
		}
		if i == len(p) {
			return
		}
		if p[i] == '\r' {
			w.cr = true
		} else {
			w.w.WriteString("\r\n")
			w.n += 2
			w.last = '\n'
		}
		p = p[i+1:]
	}
}

// Finish ends the body and returns it. A body on file ends with CRLF.
func (w *Writer) Finish() (*Body, error) {
	if w.f == nil {
		return &Body{mem: w.buf, off: int64(w.room), size: int64(len(w.buf) - w.room)}, nil
	}
	if w.cr { // a bare CR at the very end
		w.w.WriteString("\r\n")
		w.n += 2
		w.cr, w.last = false, '\n'
	}
	if w.n > 0 && w.last != '\n' {
		w.w.WriteString("\r\n")
		w.n += 2
	}
	_, err := w.w.WriteTo(w.f)
	b := &Body{f: w.f, off: fileRoom, size: w.n}
	w.f = nil
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	return b, nil
}

// Discard drops the body (the data was refused or broke off).
func (w *Writer) Discard() {
	if w.f != nil {
		closeFile(w.f)
		w.f = nil
	}
	w.buf = nil
}

// closeFile closes f and removes its name if create could not.
func closeFile(f *os.File) {
	f.Close()
	_ = os.Remove(f.Name()) // mostly gone already (create); else Open removes it at the next start
}

var _ io.Writer = (*Writer)(nil)
