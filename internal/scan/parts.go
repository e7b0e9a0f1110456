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
	// body is the part with its transfer encoding undone: whole for an
	// attached message (it is walked in turn), its first maxTextBytes for
	// any other part (all the text heuristics read), so that a large
	// attachment is never held decoded.
	body   []byte
	inline bool // no attachment disposition
	// gtube and eicar: the test strings were met anywhere in the decoded
	// part, the part past body included.
	gtube, eicar bool
}

// parsed is what the heuristics look at.
type parsed struct {
	header message.Header
	parts  []part
	// broken is set when the MIME structure could not be read to the end;
	// what was read is still looked at.
	broken bool
}

// parse reads a message's header and its decoded leaf parts, from open's
// readers (the message is read again for a message that is not MIME). It
// never fails: a message that is not MIME is one text/plain part.
func parse(open func() io.Reader, size int) *parsed {
	p := &parsed{}
	budget := maxDecoded
	p.walk(open, size, 0, &budget, true)
	return p
}

// walk reads the message open gives, of size bytes: no part of it decodes
// to more (base64 and quoted-printable shrink), which bounds the buffers.
func (p *parsed) walk(open func() io.Reader, size, depth int, budget *int, top bool) {
	e, err := message.Read(open())
	if e == nil {
		p.broken = true
		if top {
			d, _ := readPart(open(), maxTextBytes, size)
			p.parts = append(p.parts, part{mediaType: "text/plain", body: d.head, inline: true,
				gtube: d.gtube, eicar: d.eicar})
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
		keep := maxTextBytes
		if mt == "message/rfc822" {
			keep = *budget
		}
		d, rerr := readPart(io.LimitReader(ent.Body, int64(*budget)), keep, size)
		*budget -= d.n
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
			body: d.head, inline: !strings.EqualFold(disp, "attachment"), gtube: d.gtube, eicar: d.eicar})
		if mt == "message/rfc822" && depth < maxNesting {
			p.walk(func() io.Reader { return bytes.NewReader(d.head) }, len(d.head), depth+1, budget, false)
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

// decoded is what readPart kept of a part and found in it.
type decoded struct {
	head         []byte // the first keep bytes
	n            int    // bytes read in all
	gtube, eicar bool
}

// partChunk is how much of a part is decoded at a time.
const partChunk = 64 << 10

// readPart reads r to its end, keeping its first keep bytes and looking
// for the test strings in all of it: a chunk at a time, each searched
// together with the end of the one before (the longest string's length
// less one), so that a string across two chunks is found.
//
// size bounds the part's length: the part of a small message is read in
// one buffer of its size, which is then its head as it is (no copy).
func readPart(r io.Reader, keep, size int) (decoded, error) {
	var d decoded
	overlap := max(len(GTUBE), len(EICAR)) - 1
	buf := make([]byte, overlap+min(partChunk, size+1))
	carry := 0 // bytes of the chunk before kept at buf's start
	for {
		n, err := io.ReadFull(r, buf[carry:])
		if d.n == 0 && n <= keep && (err == io.EOF || err == io.ErrUnexpectedEOF) {
			d.n, d.head = n, buf[:n:n] // all of it in one read
			d.gtube, d.eicar = testStrings(d.head)
			return d, nil
		}
		if d.head == nil && keep > 0 {
			d.head = make([]byte, 0, min(keep, size))
		}
		if n > 0 {
			if len(d.head) < keep {
				d.head = append(d.head, buf[carry:carry+min(n, keep-len(d.head))]...)
			}
			d.n += n
			g, e := testStrings(buf[:carry+n])
			d.gtube, d.eicar = d.gtube || g, d.eicar || e
			end := carry + n
			carry = min(overlap, end)
			copy(buf, buf[end-carry:end])
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return d, nil
		}
		if err != nil {
			return d, err
		}
	}
}
