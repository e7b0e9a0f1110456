package httpsend

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// errSyntax marks a request that is not the JSON it should be; /send
// answers it as it answers any bad JSON (400 "bad JSON: …").
var errSyntax = errors.New("syntax error")

// syntaxf is an errSyntax with detail.
func syntaxf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errSyntax}, args...)...)
}

// stringDecoder decodes one JSON string value (RFC 8259 §7) from br into
// w as it is read, so that a message in "raw" never sits whole in memory.
// Like encoding/json, it turns invalid UTF-8 and lone surrogates into
// U+FFFD, so that both read a valid request the same.
type stringDecoder struct {
	br  *bufio.Reader
	out []byte // decoded bytes not yet given to w
	w   io.Writer
	n   int64 // decoded bytes given so far
}

// flushAt is how much decoded text is gathered before a Write.
const flushAt = 32 << 10

// decode reads the string's body and its closing quote (the opening one is
// read already).
func (d *stringDecoder) decode() error {
	for {
		if err := d.fill(); err != nil {
			return err
		}
		buf, _ := d.br.Peek(d.br.Buffered())
		i := d.plainRun(buf)
		d.out = append(d.out, buf[:i]...)
		d.br.Discard(i)
		if i < len(buf) {
			c := buf[i] // buf stays valid: nothing was read since the Peek
			switch {
			case c == '"':
				d.br.Discard(1)
				return d.flush()
			case c == '\\':
				if err := d.escape(); err != nil {
					return err
				}
			case c < 0x20:
				return syntaxf("control character %#x in string", c)
			default: // a rune cut by the buffer's end, or invalid UTF-8
				if err := d.rune(); err != nil {
					return err
				}
			}
		}
		if len(d.out) >= flushAt {
			if err := d.flush(); err != nil {
				return err
			}
		}
	}
}

// fill makes sure a byte is buffered; EOF inside a string is truncation.
func (d *stringDecoder) fill() error {
	if d.br.Buffered() > 0 {
		return nil
	}
	if _, err := d.br.Peek(1); err != nil {
		return unexpected(err)
	}
	return nil
}

// plainRun is the length of buf's leading bytes that decode to themselves:
// printable ASCII but the quote and backslash, and whole valid UTF-8 runes.
func (d *stringDecoder) plainRun(buf []byte) int {
	i := 0
	for i < len(buf) {
		c := buf[i]
		if c < utf8.RuneSelf {
			if c == '"' || c == '\\' || c < 0x20 {
				return i
			}
			i++
			continue
		}
		if !utf8.FullRune(buf[i:]) {
			return i
		}
		r, size := utf8.DecodeRune(buf[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return i
}

// rune decodes one non-ASCII rune, reading more if the buffer cut it.
func (d *stringDecoder) rune() error {
	b, err := d.br.Peek(utf8.UTFMax)
	if len(b) == 0 {
		return unexpected(err)
	}
	r, size := utf8.DecodeRune(b)
	if r == utf8.RuneError && size == 1 {
		d.out = utf8.AppendRune(d.out, utf8.RuneError)
	} else {
		d.out = append(d.out, b[:size]...)
	}
	d.br.Discard(size)
	return nil
}

// escape decodes a backslash escape (RFC 8259 §7), the backslash included.
func (d *stringDecoder) escape() error {
	b, err := d.br.Peek(2)
	if len(b) < 2 {
		return unexpected(err)
	}
	c := b[1]
	d.br.Discard(2)
	switch c {
	case '"', '\\', '/':
		d.out = append(d.out, c)
	case 'b':
		d.out = append(d.out, '\b')
	case 'f':
		d.out = append(d.out, '\f')
	case 'n':
		d.out = append(d.out, '\n')
	case 'r':
		d.out = append(d.out, '\r')
	case 't':
		d.out = append(d.out, '\t')
	case 'u':
		return d.unicode()
	default:
		return syntaxf("invalid escape \\%c in string", c)
	}
	return nil
}

// unicode decodes \uXXXX (the \u read), and a low surrogate's escape
// after a high one: RFC 8259 §7 writes a rune past the BMP as the pair.
func (d *stringDecoder) unicode() error {
	r, err := d.hex4()
	if err != nil {
		return err
	}
	if utf16.IsSurrogate(r) {
		// A pair only if a \u escape of a low surrogate follows at once;
		// otherwise U+FFFD, as encoding/json does, and what follows is read
		// on its own.
		if b, _ := d.br.Peek(6); len(b) == 6 && b[0] == '\\' && b[1] == 'u' {
			if r2, ok := parseHex4(b[2:]); ok {
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					d.br.Discard(6)
					d.out = utf8.AppendRune(d.out, dec)
					return nil
				}
			}
		}
		r = utf8.RuneError
	}
	d.out = utf8.AppendRune(d.out, r)
	return nil
}

// hex4 reads the four hex digits of a \u escape.
func (d *stringDecoder) hex4() (rune, error) {
	b, err := d.br.Peek(4)
	if len(b) < 4 {
		return 0, unexpected(err)
	}
	r, ok := parseHex4(b)
	if !ok {
		return 0, syntaxf("invalid \\u escape %q", b)
	}
	d.br.Discard(4)
	return r, nil
}

// parseHex4 is the value of four hex digits.
func parseHex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// flush gives the decoded bytes to w.
func (d *stringDecoder) flush() error {
	if len(d.out) == 0 {
		return nil
	}
	n, err := d.w.Write(d.out)
	d.n += int64(n)
	d.out = d.out[:0]
	return err
}

// unexpected turns the end of the body inside a value into a syntax error;
// a read error (the body bound among them) stays as it is.
func unexpected(err error) error {
	if err == nil || err == io.EOF {
		return syntaxf("unexpected end of JSON input")
	}
	return err
}
