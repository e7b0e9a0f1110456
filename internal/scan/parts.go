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
		body, rerr := io.ReadAll(io.LimitReader(ent.Body, int64(*budget)))
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
func (p *parsed) text() (plain, html []string) {
	for _, pt := range p.parts {
		b := pt.body
		if len(b) > maxTextBytes {
			b = b[:maxTextBytes]
		}
		switch pt.mediaType {
		case "text/plain":
			if pt.inline && pt.filename == "" {
				plain = append(plain, string(b))
			}
		case "text/html":
			if pt.inline && pt.filename == "" {
				html = append(html, string(b))
			}
		}
	}
	return plain, html
}
