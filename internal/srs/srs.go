// Package srs is the Sender Rewriting Scheme (Shevek, "The Sender
// Rewriting Scheme", 2004; libsrs2 and postsrsd implement it): a forwarder
// that sends a message on with its original envelope sender fails that
// sender's SPF, so it sends it from an address of its own that encodes the
// original, signed, and takes the bounces to it back to the original
// sender.
//
//	SRS0=HHHHHH=TT=orig.domain=orig-local@srs.domain
//	SRS1=HHHHHH=first.forwarder==HHHHHH=TT=orig.domain=orig-local@srs.domain
//
// A forward of an address that is already SRS0 (another forwarder's) makes
// an SRS1 address naming that forwarder, so that a bounce goes back one
// hop at a time and never grows the address again; a forward of an SRS1
// address keeps its first forwarder and only signs anew.
//
// HH is HMAC-SHA256 under the first secret, of the fields lower-cased
// (some MTAs change the case of local parts), truncated to 30 bits and
// written in base32; every secret verifies, so a secret can be rotated in
// without losing the bounces in flight. TT is the day (mod 1024) in two
// base32 characters, as libsrs2 writes it; an SRS0 address older than
// MaxAge is refused, so a harvested address cannot be used for long.
package srs

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxAge is how long an SRS0 address is honoured (libsrs2's default
// maxage of 21 days).
const MaxAge = 21 * 24 * time.Hour

// Errors of Reverse.
var (
	ErrNotSRS    = errors.New("srs: not an SRS address of this domain")
	ErrMalformed = errors.New("srs: malformed SRS address")
	ErrHash      = errors.New("srs: signature does not verify")
	ErrExpired   = errors.New("srs: address expired")
)

const (
	hashLen   = 6                                  // base32 characters: 30 bits
	timeSlots = 1 << 10                            // libsrs2 SRS_TIME_SLOTS
	day       = 24 * time.Hour                     // libsrs2 SRS_TIME_PRECISION
	alphabet  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" // RFC 4648 base32
)

var hashEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Config is what an SRS needs.
type Config struct {
	Domain  string           // the domain of the SRS addresses
	Secrets []string         // the first signs; every one verifies
	Now     func() time.Time // nil: time.Now
}

// SRS rewrites and reverses addresses. Safe for concurrent use.
type SRS struct {
	domain  string
	secrets [][]byte
	now     func() time.Time
}

// New returns an SRS for cfg.
func New(cfg Config) (*SRS, error) {
	d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(cfg.Domain), "."))
	if d == "" || !strings.Contains(d, ".") {
		return nil, fmt.Errorf("srs: %q is not a domain", cfg.Domain)
	}
	if len(cfg.Secrets) == 0 {
		return nil, errors.New("srs: no secret")
	}
	s := &SRS{domain: d, now: cfg.Now}
	for _, k := range cfg.Secrets {
		if k == "" {
			return nil, errors.New("srs: empty secret")
		}
		s.secrets = append(s.secrets, []byte(k))
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Domain is the domain of the SRS addresses.
func (s *SRS) Domain() string { return s.domain }

// Forward returns the address a forwarded message with envelope sender
// addr is sent from. An address already at the SRS domain is returned as
// it is: it is ours.
func (s *SRS) Forward(addr string) (string, error) {
	local, domain, ok := split(addr)
	if !ok {
		return "", fmt.Errorf("srs: %q is not local@domain", addr)
	}
	if strings.EqualFold(domain, s.domain) {
		return addr, nil
	}
	switch tag(local) {
	case "SRS0":
		// Another forwarder's: name it, keep its opaque part (which
		// starts with its separator, hence the "==").
		rest := local[4:]
		return s.srs1(domain, rest), nil
	case "SRS1":
		// Keep the first forwarder; sign anew.
		if _, host, rest, err := parseSRS1(local); err == nil {
			return s.srs1(host, rest), nil
		}
	}
	ts := timestamp(s.now())
	return "SRS0=" + s.hash(0, ts, domain, local) + "=" + ts + "=" + domain + "=" + local + "@" + s.domain, nil
}

func (s *SRS) srs1(host, rest string) string {
	return "SRS1=" + s.hash(0, host, rest) + "=" + host + "=" + rest + "@" + s.domain
}

// IsSRS reports whether addr is an SRS address at the SRS domain (it
// says nothing of its signature).
func (s *SRS) IsSRS(addr string) bool {
	local, domain, ok := split(addr)
	return ok && strings.EqualFold(domain, s.domain) && tag(local) != ""
}

// Reverse returns where a bounce to addr goes: the original sender of an
// SRS0 address, the first forwarder's SRS0 address of an SRS1 one.
// ErrNotSRS, ErrMalformed, ErrHash (forged) or ErrExpired refuse it.
func (s *SRS) Reverse(addr string) (string, error) {
	local, domain, ok := split(addr)
	if !ok || !strings.EqualFold(domain, s.domain) {
		return "", ErrNotSRS
	}
	switch tag(local) {
	case "SRS0":
		// SRS0=HHH=TT=domain=local; the original local part may hold '='.
		parts := strings.SplitN(local[5:], "=", 4)
		if len(parts) != 4 || parts[0] == "" || len(parts[1]) != 2 || parts[2] == "" || parts[3] == "" {
			return "", ErrMalformed
		}
		h, ts, od, ol := parts[0], parts[1], parts[2], parts[3]
		if !s.verify(h, ts, od, ol) {
			return "", ErrHash
		}
		if err := s.fresh(ts); err != nil {
			return "", err
		}
		return ol + "@" + od, nil
	case "SRS1":
		h, host, rest, err := parseSRS1(local)
		if err != nil {
			return "", err
		}
		if !s.verify(h, host, rest) {
			return "", ErrHash
		}
		return "SRS0" + rest + "@" + host, nil
	}
	return "", ErrNotSRS
}

// parseSRS1 splits SRS1=HHH=host==opaque into the hash, the host and the
// opaque part with its leading separator ("=opaque").
func parseSRS1(local string) (h, host, rest string, err error) {
	parts := strings.SplitN(local[5:], "=", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || len(parts[2]) < 2 || !isSep(parts[2][0]) {
		return "", "", "", ErrMalformed
	}
	return parts[0], parts[1], parts[2], nil
}

// tag returns "SRS0" or "SRS1" when local starts with one and a separator
// (libsrs2 accepts '=', '+' and '-'), in any case; "" otherwise.
func tag(local string) string {
	if len(local) < 6 || !isSep(local[4]) {
		return ""
	}
	switch strings.ToUpper(local[:4]) {
	case "SRS0":
		return "SRS0"
	case "SRS1":
		return "SRS1"
	}
	return ""
}

func isSep(c byte) bool { return c == '=' || c == '+' || c == '-' }

// split splits local@domain at the last '@'.
func split(addr string) (local, domain string, ok bool) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", "", false
	}
	return addr[:at], addr[at+1:], true
}

// hash is the signature of fields under secret i.
func (s *SRS) hash(i int, fields ...string) string {
	m := hmac.New(sha256.New, s.secrets[i])
	for _, f := range fields {
		m.Write([]byte(strings.ToLower(f)))
		m.Write([]byte{0}) // no two field lists hash alike
	}
	return hashEncoding.EncodeToString(m.Sum(nil))[:hashLen]
}

// verify reports whether h signs fields under any secret, in any case.
func (s *SRS) verify(h string, fields ...string) bool {
	if len(h) != hashLen {
		return false
	}
	h = strings.ToUpper(h)
	ok := 0
	for i := range s.secrets {
		ok |= subtle.ConstantTimeCompare([]byte(h), []byte(s.hash(i, fields...)))
	}
	return ok == 1
}

// timestamp is t's day mod 1024 in two base32 characters.
func timestamp(t time.Time) string {
	d := t.Unix() / int64(day/time.Second) % timeSlots
	return string([]byte{alphabet[d>>5&31], alphabet[d&31]})
}

// fresh checks a timestamp: at most MaxAge old, counting days mod 1024
// (so a stamp from the "future" is one from long ago).
func (s *SRS) fresh(ts string) error {
	var then int64
	for i := 0; i < 2; i++ {
		v := strings.IndexByte(alphabet, upper(ts[i]))
		if v < 0 {
			return ErrMalformed
		}
		then = then<<5 | int64(v)
	}
	now := s.now().Unix() / int64(day/time.Second) % timeSlots
	age := (now - then + timeSlots) % timeSlots
	if age > int64(MaxAge/day) {
		return ErrExpired
	}
	return nil
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}
