package httpsend

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// maxEnvelope bounds the JSON of the members other than "raw" (from, to
// and anything unknown): they are gathered in memory for encoding/json.
const maxEnvelope = 1 << 20

// envelope is what /send's JSON says besides the message.
type envelope struct {
	From string   `json:"from"`
	To   []string `json:"to"`
}

// Errors of decodeRequest that are not syntax errors.
var (
	errEmpty        = errors.New("empty body")
	errDuplicateRaw = syntaxf(`"raw" given twice`)
	errEnvelopeBig  = errors.New("members other than raw too large")
)

// decodeRequest reads /send's JSON object from r: the "raw" string is
// decoded into raw as it arrives, and the other members are gathered
// (at most maxEnvelope bytes) and decoded by encoding/json, strictly as
// before (unknown members refused). Keys match as encoding/json matches
// them, case-insensitively; a second "raw" is refused, not a last one
// taken, since the first is already written. A top-level null is an empty
// request, as encoding/json reads it.
func decodeRequest(r io.Reader, raw io.Writer) (env envelope, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	c, err := skipSpace(br)
	if err == io.EOF {
		return env, errEmpty
	}
	if err != nil {
		return env, err
	}
	switch c {
	case '{':
		var rest bytes.Buffer
		if err = members(br, raw, &rest); err != nil {
			return env, err
		}
		if err = decodeEnvelope(rest.Bytes(), &env); err != nil {
			return env, err
		}
	case 'n':
		if err := literal(br, "ull"); err != nil {
			return env, err
		}
	default:
		return env, syntaxf("invalid character %q looking for beginning of value", c)
	}
	if _, err := skipSpace(br); err != io.EOF {
		if err != nil && !errors.Is(err, errSyntax) {
			return env, err
		}
		return env, syntaxf("trailing data after the object")
	}
	return env, nil
}

// members reads the object's members after its '{' up to its '}': raw's
// value to raw, the others to rest as the members of a JSON object.
func members(br *bufio.Reader, raw io.Writer, rest *bytes.Buffer) error {
	rest.WriteByte('{')
	seenRaw := false
	for first := true; ; first = false {
		c, err := skipSpace(br)
		if err != nil {
			return unexpected(err)
		}
		if c == '}' && first {
			break
		}
		if c != '"' {
			return syntaxf("invalid character %q looking for a member name", c)
		}
		key, err := decodeKey(br, rest)
		if err != nil {
			return err
		}
		if c, err = skipSpace(br); err != nil {
			return unexpected(err)
		}
		if c != ':' {
			return syntaxf("invalid character %q after a member name", c)
		}
		if strings.EqualFold(key, "raw") {
			if seenRaw {
				return errDuplicateRaw
			}
			seenRaw = true
			if err = rawValue(br, raw); err != nil {
				return err
			}
		} else {
			if rest.Len() > 1 {
				rest.WriteByte(',')
			}
			k, _ := json.Marshal(key)
			rest.Write(k)
			rest.WriteByte(':')
			if err := copyValue(br, rest); err != nil {
				return err
			}
			if rest.Len() > maxEnvelope {
				return errEnvelopeBig
			}
		}
		if c, err = skipSpace(br); err != nil {
			return unexpected(err)
		}
		if c == '}' {
			break
		}
		if c != ',' {
			return syntaxf("invalid character %q after an object member", c)
		}
	}
	rest.WriteByte('}')
	return nil
}

// decodeKey decodes a member name (its opening quote read); rest's budget
// bounds it.
func decodeKey(br *bufio.Reader, rest *bytes.Buffer) (string, error) {
	var k bytes.Buffer
	d := &stringDecoder{br: br, w: &limitWriter{w: &k, n: maxEnvelope - int64(rest.Len())}}
	if err := d.decode(); err != nil {
		return "", err
	}
	return k.String(), nil
}

// rawValue decodes raw's value into w: a string, or null (no message, as
// encoding/json leaves a string for null).
func rawValue(br *bufio.Reader, w io.Writer) error {
	c, err := skipSpace(br)
	if err != nil {
		return unexpected(err)
	}
	switch c {
	case '"':
		d := &stringDecoder{br: br, w: w}
		return d.decode()
	case 'n':
		return literal(br, "ull")
	}
	return syntaxf("raw is not a string")
}

// decodeEnvelope decodes the gathered members as /send always has:
// encoding/json, unknown members refused.
func decodeEnvelope(b []byte, env *envelope) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(env); err != nil {
		return syntaxf("%v", err)
	}
	return nil
}

// skipSpace returns the first byte past JSON whitespace (RFC 8259 §2).
func skipSpace(br *bufio.Reader) (byte, error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c, nil
		}
	}
}

// literal reads the rest of a literal whose first byte was read.
func literal(br *bufio.Reader, rest string) error {
	for i := 0; i < len(rest); i++ {
		c, err := br.ReadByte()
		if err != nil {
			return unexpected(err)
		}
		if c != rest[i] {
			return syntaxf("invalid character %q in literal", c)
		}
	}
	return nil
}

// limitWriter refuses what goes past n bytes.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, errEnvelopeBig
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}
