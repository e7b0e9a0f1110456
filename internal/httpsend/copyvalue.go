package httpsend

import (
	"bufio"
	"bytes"
)

// copyValue copies one JSON value of a member other than raw to out, as
// it is: only its end is found here (strings and nesting followed), and
// encoding/json validates it later (decodeEnvelope). out's size is bounded
// by maxEnvelope as it grows.
func copyValue(br *bufio.Reader, out *bytes.Buffer) error {
	c, err := skipSpace(br)
	if err != nil {
		return unexpected(err)
	}
	depth := 0
	for {
		switch c {
		case '"':
			out.WriteByte(c)
			if err := copyString(br, out); err != nil {
				return err
			}
		case '{', '[':
			out.WriteByte(c)
			depth++
		case '}', ']':
			if depth == 0 {
				return syntaxf("invalid character %q looking for a value", c)
			}
			out.WriteByte(c)
			depth--
		case ',':
			if depth == 0 {
				return syntaxf("invalid character ',' looking for a value")
			}
			out.WriteByte(c)
		default:
			// A scalar, or whitespace and ':' inside a nested value.
			out.WriteByte(c)
			if depth == 0 {
				return copyScalar(br, out)
			}
		}
		if out.Len() > maxEnvelope {
			return errEnvelopeBig
		}
		if depth == 0 {
			return nil
		}
		if c, err = br.ReadByte(); err != nil {
			return unexpected(err)
		}
	}
}

// copyScalar copies the rest of a number or literal, up to the delimiter
// that ends it (left unread).
func copyScalar(br *bufio.Reader, out *bytes.Buffer) error {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return unexpected(err)
		}
		switch b[0] {
		case ',', '}', ']', ' ', '\t', '\n', '\r', '"', '{', '[', ':':
			return nil
		}
		out.WriteByte(b[0])
		br.Discard(1)
		if out.Len() > maxEnvelope {
			return errEnvelopeBig
		}
	}
}

// copyString copies a string's rest, its closing quote included, escapes
// as they are.
func copyString(br *bufio.Reader, out *bytes.Buffer) error {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return unexpected(err)
		}
		out.WriteByte(c)
		switch c {
		case '"':
			return nil
		case '\\':
			if c, err = br.ReadByte(); err != nil {
				return unexpected(err)
			}
			out.WriteByte(c)
		}
		if out.Len() > maxEnvelope {
			return errEnvelopeBig
		}
	}
}
