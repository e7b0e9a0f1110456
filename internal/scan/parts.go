package scan

import (
	"bytes"
	"io"
	"mime"
	"path"
	"strings"

	"github.com/emersion/go-message"
)

// Bounds on the work one message may cause.
const (
	maxDecoded   = 64 << 20 // bytes of decoded parts looked at, in all
	maxParts     = 500
	maxNesting   = 3 // message/rfc822 inside message/rfc822 …
	maxTextBytes = 1 << 20
)

// part is one leaf of a message's MIME tree, decoded.
type part struct {
	mediaType string
	filename  string // from Content-Disposition or Content-Type name=
	body      []byte // transfer encoding undone
	inline    bool   // no attachment disposition
}

// parsed is what the heuristics look at.
type parsed struct {
	header message.Header
	parts  []part
	// broken is set when the MIME structure could not be read to the end;
	// what was read is still looked at.
	broken bool
}

// parse reads a message's header and its decoded leaf parts. It never
// fails: a message that is not MIME is one text/plain part.
func parse(raw []byte) *parsed {
	p := &parsed{}
	budget := maxDecoded
	p.walk(raw, 0, &budget, true)
	return p
}

func (p *parsed) walk(raw []byte, depth int, budget *int, top bool) {
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil {
		p.broken = true
		if top {
			p.parts = append(p.parts, part{mediaType: "text/plain", body: raw, inline: true})
		}
		return
	}
	if top {
		p.header = e.Header
	}
	_ = err // unknown charset or encoding: the body is still readable
	werr := e.Walk(func(_ []int, ent *message.Entity, err error) error {
		if ent == nil {
			return nil
		}
		mt, params, _ := ent.Header.ContentType()
		if mt == "" {
			mt = "text/plain"
		}
		mt = strings.ToLower(mt)
		if strings.HasPrefix(mt, "multipart/") {
			return nil
		}
		if len(p.parts) >= maxParts || *budget <= 0 {
			return io.EOF
		}
		// A part that is the whole message decodes to at most its size
		// (base64 and quoted-printable shrink): read it into one buffer
		// rather than io.ReadAll's doublings.
		var hint int
		if ent == e {
			hint = min(len(raw), *budget)
		}
		body, rerr := readAll(io.LimitReader(ent.Body, int64(*budget)), hint)
		*budget -= len(body)
		if rerr != nil {
			p.broken = true
		}
		disp, dparams, _ := ent.Header.ContentDisposition()
		name := dparams["filename"]
		if name == "" {
			name = params["name"]
		}
		if dec, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
			name = dec
		}
		p.parts = append(p.parts, part{mediaType: mt, filename: path.Base(strings.ReplaceAll(name, `\`, "/")),
			body: body, inline: !strings.EqualFold(disp, "attachment")})
		if mt == "message/rfc822" && depth < maxNesting {
			p.walk(body, depth+1, budget, false)
		}
		return nil
	})
	if werr != nil && werr != io.EOF {
		p.broken = true
	}
	for i := range p.parts {
		if p.parts[i].filename == "." {
			p.parts[i].filename = ""
		}
	}
}

// text returns the decoded text of the message's text/plain and text/html
// parts, html ones separately, each cut at maxTextBytes.
// Plain parts stay bytes (they are only copied into the phrases' text);
// html ones become strings for the tokenizer.
func (p *parsed) text() (plain [][]byte, html []string) {
	for _, pt := range p.parts {
		b := pt.body
		if len(b) > maxTextBytes {
			b = b[:maxTextBytes]
		}
		switch pt.mediaType {
		case "text/plain":
			if pt.inline && pt.filename == "" {
				plain = append(plain, b)
			}
		case "text/html":
			if pt.inline && pt.filename == "" {
				html = append(html, string(b))
			}
		}
	}
	return plain, html
}

// readAll is io.ReadAll into a buffer of hint bytes to start with.
func readAll(r io.Reader, hint int) ([]byte, error) {
	b := make([]byte, 0, hint+bytes.MinRead)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append grow it
		}
	}
}
