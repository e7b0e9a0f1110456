package dkim

import (
	"crypto/sha256"
	"hash"
)

// bodyHash is the relaxed body hash (RFC 6376 §3.4.4, §3.7): the body,
// written in pieces of any size, is canonicalised on the fly into a
// SHA-256. Runs of the input that relaxed canonicalisation leaves as they
// are (in mail, nearly all of it) go to the hash straight from the
// caller's buffer; only what it changes is rewritten, in a small scratch
// buffer. Nothing but the line breaks at the current end is held.
//
// Lines end in CRLF. As in go-msgauth's verifier, a bare LF counts as
// CRLF, and a bare CR is treated as a line break that is written as it is
// (WSP before it goes, and so does it at the end of the body). Intake
// makes every line end in CRLF before signing, so this matters only to
// callers that do not.
type bodyHash struct {
	h       hash.Hash
	cr      bool   // the last byte written was CR: a LF after it is no bare LF
	wsp     bool   // WSP seen since the last byte kept: one SP, unless a line break follows
	breaks  []byte // CR and LF since the last byte kept: dropped if only empty lines follow
	written bool   // something was kept: the body ends with CRLF
	scratch []byte
}

func newBodyHash() *bodyHash {
	return &bodyHash{h: sha256.New(), scratch: make([]byte, 0, 64)}
}

// Write canonicalises p into the hash. It never fails.
func (b *bodyHash) Write(p []byte) (int, error) {
	cr, wsp, breaks := b.cr, b.wsp, b.breaks
	// p[start:end] is kept as it is and not hashed yet. literal says that
	// what is held back since end (breaks, then SP if wsp) is exactly
	// p[end:i]: when the next byte is kept, the span grows over it.
	start, end := 0, 0
	literal := len(breaks) == 0 && !wsp
	for i := 0; i < len(p); i++ {
		c := p[i]
		prevCR := cr
		cr = c == '\r'
		switch c {
		case ' ', '\t':
			// §3.4.4 b: a run of WSP within a line is reduced to one SP.
			if wsp || c == '\t' {
				literal = false
			}
			wsp = true
		case '\r', '\n':
			// §3.4.4 a: WSP at the end of a line is ignored.
			if wsp {
				literal = false
			}
			wsp = false
			if c == '\n' && !prevCR {
				breaks = append(breaks, '\r')
				literal = false
			}
			breaks = append(breaks, c)
		default:
			b.written = true
			if !literal {
				b.h.Write(p[start:end])
				s := append(b.scratch[:0], breaks...)
				if wsp {
					s = append(s, ' ')
				}
				b.h.Write(s)
				b.scratch = s[:0]
				start, literal = i, true
			}
			// The bytes after c that are kept too, at once.
			for i+1 < len(p) && p[i+1] > ' ' {
				i++
			}
			end = i + 1
			breaks, wsp = breaks[:0], false
		}
	}
	b.h.Write(p[start:end])
	b.cr, b.wsp, b.breaks = cr, wsp, breaks
	return len(p), nil
}

// Sum ends the body and returns its hash; nothing may be written after.
func (b *bodyHash) Sum() []byte {
	// §3.4.3, §3.4.4: empty lines at the end are ignored and a body that
	// is not empty ends with one CRLF; an empty one (or one of empty
	// lines) hashes as nothing (erratum 1384).
	if b.written {
		b.h.Write([]byte(crlf))
	}
	return b.h.Sum(nil)
}

const crlf = "\r\n"

// appendRelaxedHeader appends the relaxed canonical form of one header
// field (RFC 6376 §3.4.2) to dst: the name in lower case, no WSP around
// the colon, the value unfolded with each run of WSP as one SP and none at
// either end, then CRLF. CR and LF count as WSP (unfolding), as in
// go-msgauth.
func appendRelaxedHeader[T string | []byte](dst []byte, name string, value T) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = append(dst, ':')
	space, first := false, true
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case ' ', '\t', '\r', '\n':
			space = true
		default:
			if space && !first {
				dst = append(dst, ' ')
			}
			space, first = false, false
			dst = append(dst, c)
		}
	}
	return append(dst, crlf...)
}
