package spool

import (
	"bufio"
	"bytes"
	"io"
	"os"
)

// Body is a message body from a Writer: in memory when small, in a spool
// file when large. Fields are put on top with Prepend, in the room kept
// free in front of it, so the body itself is never copied for them. It
// implements queue.Spooled. Close releases the file.
type Body struct {
	mem  []byte   // a small body: room, then the body from off
	f    *os.File // a large one: room, then the body from off
	off  int64
	size int64  // bytes from off
	head []byte // fields that did not fit in the room, in front of off
}

// OnFile reports whether the body is in a file.
func (b *Body) OnFile() bool { return b.f != nil }

// Memory returns a body in memory as the buffer holding it and the room
// before it in that buffer (ok false for one on file), so that a caller can
// put fields in the room itself.
func (b *Body) Memory() (buf []byte, room int, ok bool) {
	if b.f != nil || len(b.head) > 0 {
		return nil, 0, false
	}
	return b.mem, int(b.off), true
}

// Bytes returns a body in memory (nil for one on file), the fields put on
// top included.
func (b *Body) Bytes() []byte {
	if b.f != nil {
		return nil
	}
	return append(b.head, b.mem[b.off:]...)
}

// Size is the body's size, the fields put on top included.
func (b *Body) Size() int64 { return int64(len(b.head)) + b.size }

// Prepend puts f on top of the body: in the free room when it fits,
// otherwise in front of it in memory.
func (b *Body) Prepend(f []byte) error {
	if len(b.head) == 0 && int64(len(f)) <= b.off {
		b.off -= int64(len(f))
		b.size += int64(len(f))
		if b.f == nil {
			copy(b.mem[b.off:], f)
			return nil
		}
		_, err := b.f.WriteAt(f, b.off)
		return err
	}
	b.head = append(append([]byte(nil), f...), b.head...)
	return nil
}

// NewReader returns a reader of the whole body from its start; readers
// are independent of one another.
func (b *Body) NewReader() io.Reader {
	var r io.Reader
	if b.f == nil {
		r = bytes.NewReader(b.mem[b.off:])
	} else {
		r = io.NewSectionReader(b.f, b.off, b.size)
	}
	if len(b.head) == 0 {
		return r
	}
	return io.MultiReader(bytes.NewReader(b.head), r)
}

// Header returns the body's header section, up to and with the empty line
// that ends it, read from the start and cut at max bytes.
func (b *Body) Header(max int) ([]byte, error) {
	return ReadHeader(bufio.NewReader(io.LimitReader(b.NewReader(), int64(max))))
}

// ReadHeader reads a message's header section from br, up to and with the
// empty line that ends it (or the end of the message), leaving br at the
// body. On a read error it returns what it read with the error.
func ReadHeader(br *bufio.Reader) ([]byte, error) {
	var h []byte
	partial := false // the line read is the rest of a long one
	for {
		line, err := br.ReadSlice('\n')
		h = append(h, line...)
		switch {
		case err == io.EOF:
			return h, nil
		case err == bufio.ErrBufferFull:
			partial = true // a long line: the rest comes next
			continue
		case err != nil:
			return h, err
		}
		if !partial && (string(line) == "\r\n" || string(line) == "\n") {
			return h, nil
		}
		partial = false
	}
}

// Close releases the body; a spool file is removed.
func (b *Body) Close() error {
	if b.f != nil {
		closeFile(b.f)
		b.f = nil
	}
	b.mem = nil
	return nil
}
