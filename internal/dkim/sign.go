package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	"sendpool/internal/domain"
)

// SignedHeaders are the fields signed when present (RFC 6376 §5.4.1 lists
// the ones that matter to a reader): the originator and recipients, the
// subject and date, the identifiers, the MIME structure, and the one-click
// unsubscribe fields (RFC 8058 §4 requires them signed).
var SignedHeaders = []string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"List-Unsubscribe", "List-Unsubscribe-Post",
}

// SigningKey is one key to sign with.
type SigningKey struct {
	Selector string
	Signer   crypto.Signer // *rsa.PrivateKey or ed25519.PrivateKey
}

// Sign returns msg (CRLF line endings) with one DKIM-Signature per key
// prepended, in the order of keys, for domain d, dated now: see
// Signatures.
func Sign(msg []byte, d string, keys []SigningKey) ([]byte, error) {
	fields, body := splitHeader(msg)
	return sign(msg, fields, body, d, keys, time.Now())
}

// sign prepends the signatures of the parsed msg to it.
func sign(msg []byte, fields []field, body int, d string, keys []SigningKey, now time.Time) ([]byte, error) {
	sigs, err := signatures(msg, fields, body, d, keys, now, len(msg))
	if err != nil {
		return nil, err
	}
	return append(sigs, msg...), nil
}

// Signatures returns the DKIM-Signature fields (each ending in CRLF) to
// put on top of msg, one per key in the order of keys, for domain d, made
// at now: relaxed/relaxed canonicalisation (which survives the rewrapping
// and whitespace changes relays make, RFC 6376 §3.4), SHA-256 (§3.7),
// rsa-sha256 or ed25519-sha256 (RFC 8463) after each key's type.
//
// The body is canonicalised and hashed once, whatever the number of keys,
// and so is the signed header; each key then signs its own field's hash.
func Signatures(msg []byte, d string, keys []SigningKey, now time.Time) ([]byte, error) {
	fields, body := splitHeader(msg)
	return signatures(msg, fields, body, d, keys, now, 0)
}

// fieldSize is room enough for one signature field (an RSA-2048 one is
// about 700 bytes).
const fieldSize = 800

// signatures makes the fields, with room for extra more bytes after them
// (the message, in sign: one allocation).
func signatures(msg []byte, fields []field, body int, d string, keys []SigningKey, now time.Time, extra int) ([]byte, error) {
	if len(keys) == 0 {
		return make([]byte, 0, extra), nil
	}
	bh := newBodyHash()
	bh.Write(msg[body:])
	return signaturesOf(fields, base64.StdEncoding.EncodeToString(bh.Sum()), d, keys, now, extra)
}

// signaturesOf makes the fields of a message whose header fields and body
// hash (bh=) are given.
func signaturesOf(fields []field, bodyHash string, d string, keys []SigningKey, now time.Time, extra int) ([]byte, error) {
	out := make([]byte, 0, fieldSize*len(keys)+extra)
	names, header := signedHeader(fields)
	t := strconv.FormatInt(now.Unix(), 10)

	var canon []byte // this signature's field, relaxed
	for _, k := range keys {
		alg, hash, err := algorithmOf(k.Signer)
		if err != nil {
			return nil, fmt.Errorf("dkim: sign with %s: %w", k.Selector, err)
		}
		f := &folder{b: append(out, "DKIM-Signature:"...), col: len("DKIM-Signature:")}
		start := len(out) + len("DKIM-Signature:")
		f.tag("v=1;")
		f.tag("a=" + alg + ";")
		f.tag("c=relaxed/relaxed;")
		f.tag("d=" + d + ";")
		f.tag("s=" + k.Selector + ";")
		f.tag("t=" + t + ";")
		f.list("h=", names)
		f.tag("bh=" + bodyHash + ";") // ';' right after: see below
		f.tag("b=")

		// §3.7: the signed fields, then this one with b= empty, relaxed,
		// without its CRLF. A verifier empties b= by deleting what follows
		// it up to the next ';' (or the end), so the field ends with b=,
		// and bh= (whose base64 may end in "b=") is followed by ';' at once.
		canon = appendRelaxedHeader(canon[:0], "DKIM-Signature", f.b[start:])
		h := sha256.New()
		h.Write(header)
		h.Write(canon[:len(canon)-len(crlf)])
		sig, err := k.Signer.Sign(rand.Reader, h.Sum(nil), hash)
		if err != nil {
			return nil, fmt.Errorf("dkim: sign with %s: %w", k.Selector, err)
		}
		f.base64(sig)
		out = append(f.b, crlf...)
	}
	return out, nil
}

// algorithmOf names the signing algorithm of s (RFC 6376 §3.5 a=) and
// the hash its Sign is given: RSA signs the SHA-256 digest as PKCS #1
// v1.5 (§3.3.1); Ed25519 signs the digest itself as its message, pure
// Ed25519 (RFC 8463 §3), so no hash is named.
func algorithmOf(s crypto.Signer) (string, crypto.Hash, error) {
	switch s.Public().(type) {
	case *rsa.PublicKey:
		return AlgorithmName(domain.RSA), crypto.SHA256, nil
	case ed25519.PublicKey:
		return AlgorithmName(domain.Ed25519), 0, nil
	}
	return "", 0, fmt.Errorf("unsupported key type %T", s.Public())
}

// AlgorithmName is the a= of a signature made with a key of type alg:
// "rsa-sha256" or "ed25519-sha256" (RFC 6376 §3.5, RFC 8463 §3).
func AlgorithmName(alg domain.Algorithm) string {
	return string(alg) + "-sha256"
}

// ParseAlgorithmName is the key type that makes signatures named name
// (AlgorithmName's inverse).
func ParseAlgorithmName(name string) (domain.Algorithm, error) {
	for _, alg := range []domain.Algorithm{domain.RSA, domain.Ed25519} {
		if name == AlgorithmName(alg) {
			return alg, nil
		}
	}
	return "", fmt.Errorf("dkim: unknown signing algorithm %q: want rsa-sha256 or ed25519-sha256", name)
}

// signedHeader returns the h= list for the fields and the relaxed
// canonical form of the fields it names, in its order (RFC 6376 §5.4.2:
// a name listed n times signs its last n instances, from the bottom up).
// Each field of SignedHeaders is listed as many times as it occurs, and
// From once more: the extra From signs its absence (§8.15), so a From
// added above ours, which some readers would show, breaks the signature.
func signedHeader(fields []field) ([]string, []byte) {
	var names []string
	var header []byte
	for _, name := range SignedHeaders {
		n := 0
		for i := len(fields) - 1; i >= 0; i-- {
			if asciiEqualFold(fields[i].name, name) {
				header = appendRelaxedHeader(header, fields[i].name, fields[i].value)
				n++
			}
		}
		if name == "From" {
			n++
		}
		for range n {
			names = append(names, name)
		}
	}
	return names, header
}

// asciiEqualFold compares header field names, which are ASCII (RFC 5322
// §2.2), case-insensitively.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// lineMax is where the signature's lines are folded (RFC 5322 §2.1.1
// recommends 78 characters).
const lineMax = 78

// folder writes a header field's tags, folding its lines (RFC 6376 §3.5:
// FWS may go between tags, around the ':' of h= and inside base64).
type folder struct {
	b   []byte
	col int
}

// tag appends " s", on a new line if it does not fit on this one.
func (f *folder) tag(s string) {
	if f.col+1+len(s) > lineMax {
		f.b = append(f.b, "\r\n\t"...)
		f.col = 1
	} else {
		f.b = append(f.b, ' ')
		f.col++
	}
	f.b = append(f.b, s...)
	f.col += len(s)
}

// list appends " <prefix>a:b:…;", folding after a ':' where needed.
func (f *folder) list(prefix string, names []string) {
	for i, n := range names {
		s := n + ":"
		if i == len(names)-1 {
			s = n + ";"
		}
		if i == 0 {
			f.tag(prefix + s)
			continue
		}
		if f.col+len(s) > lineMax {
			f.b = append(f.b, "\r\n\t"...)
			f.col = 1
		}
		f.b = append(f.b, s...)
		f.col += len(s)
	}
}

// base64 appends sig in base64, folded to fill each line.
func (f *folder) base64(sig []byte) {
	s := base64.StdEncoding.EncodeToString(sig)
	for len(s) > 0 {
		room := lineMax - f.col
		if room <= 0 {
			f.b = append(f.b, "\r\n\t"...)
			f.col = 1
			continue
		}
		n := min(room, len(s))
		f.b = append(f.b, s[:n]...)
		f.col += n
		s = s[n:]
	}
}
