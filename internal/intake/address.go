package intake

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"sendpool/internal/account"
)

// Address limits of RFC 5321 §4.5.3.1.
const (
	maxLocalPart = 64  // §4.5.3.1.1
	maxPath      = 254 // §4.5.3.1.3: 256 octets including the angle brackets
)

// CheckSender checks the envelope sender (MAIL FROM) against the account:
// its domain, or a subdomain of it, must be one of the account's (SPEC §3).
//
// The null sender ("", from MAIL FROM:<>) is allowed: it is how a hosting
// server relays the bounces its own MTA generates (RFC 5321 §4.5.5), and
// refusing it would leave them stuck there. Such a message cannot cause
// a bounce in turn, and the account is still known, limited and scanned.
func (s *Service) CheckSender(a *account.Account, from string) error {
	if a == nil {
		return AuthRequired("no account")
	}
	if from == "" {
		return nil
	}
	_, domain, err := ParseAddress(from)
	if err != nil {
		return BadSender(fmt.Sprintf("%q: %v", from, err))
	}
	if !a.OwnsDomain(domain) && !s.forwards(a) {
		return SenderNotAllowed(fmt.Sprintf("domain %s is not one of account %s's", domain, a.Name))
	}
	return nil
}

// forwards reports whether a's foreign envelope senders are rewritten
// (SRS) rather than refused.
func (s *Service) forwards(a *account.Account) bool { return a.Forwarding && s.cfg.SRS != nil }

// rewriteSender gives a forwarding account's message with a foreign
// envelope sender an SRS address as its sender, so that it passes SPF
// where it goes and its bounces come back through the MX to the original
// sender (SPEC §7). The From: rule still applies: an authentic forward
// keeps the original's DKIM signature, which passes DMARC.
func (s *Service) rewriteSender(a *account.Account, sub *Submission) error {
	if sub.From == "" || !s.forwards(a) {
		return nil
	}
	_, domain, err := ParseAddress(sub.From)
	if err != nil || a.OwnsDomain(domain) {
		return nil
	}
	srs, err := s.cfg.SRS.Forward(sub.From)
	if err != nil {
		return BadSender(fmt.Sprintf("%q: %v", sub.From, err))
	}
	s.log.Debug("intake: SRS", "account", a.Name, "from", sub.From, "srs", srs)
	sub.From = srs
	return nil
}

// CheckRecipient checks a recipient's syntax (RFC 5321 §4.1.2). Address
// literals are refused: delivery goes to a domain's MX.
func (s *Service) CheckRecipient(a *account.Account, rcpt string) error {
	if a == nil {
		return AuthRequired("no account")
	}
	if _, _, err := ParseAddress(rcpt); err != nil {
		return BadRecipient(fmt.Sprintf("%q: %v", rcpt, err))
	}
	return nil
}

// ParseAddress splits a mailbox (without angle brackets) into its local
// part and its domain, lower case, checking the
// syntax of RFC 5321 §4.1.2 extended to UTF-8 by RFC 6531 §3.3.
func ParseAddress(addr string) (local, domain string, err error) {
	if len(addr) > maxPath {
		return "", "", fmt.Errorf("longer than %d octets", maxPath)
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", "", fmt.Errorf("not local@domain")
	}
	local, domain = addr[:at], addr[at+1:]
	if len(local) > maxLocalPart {
		return "", "", fmt.Errorf("local part longer than %d octets", maxLocalPart)
	}
	if !validLocalPart(local) {
		return "", "", fmt.Errorf("bad local part")
	}
	if strings.HasPrefix(domain, "[") {
		return "", "", fmt.Errorf("address literals are not accepted")
	}
	domain = strings.ToLower(domain)
	if !validDomain(domain) {
		return "", "", fmt.Errorf("bad domain %q", domain)
	}
	return local, domain, nil
}

// validDomain accepts a domain name of two or more labels of letters,
// digits and inner hyphens, where a label may also hold UTF-8 (an IDN
// U-label, RFC 6531 §3.3). U-labels are not converted to A-labels here.
func validDomain(d string) bool {
	if account.ValidDomain(d) {
		return true
	}
	if len(d) > 253 || !utf8.ValidString(d) {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c >= 0x80) {
				return false
			}
		}
	}
	return true
}

// validLocalPart accepts a dot-string or a quoted-string (RFC 5321 §4.1.2),
// with UTF-8 allowed where RFC 6531 allows it.
func validLocalPart(s string) bool {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		q := s[1 : len(s)-1]
		for i := 0; i < len(q); i++ {
			c := q[i]
			switch {
			case c == '\\':
				// quoted-pairSMTP: backslash then %d32-126.
				i++
				if i == len(q) || q[i] < 32 || q[i] > 126 {
					return false
				}
			case c == '"' || c < 32 || c == 127:
				return false
			}
		}
		return true
	}
	for _, atom := range strings.Split(s, ".") {
		if atom == "" {
			return false // leading, trailing or double dot
		}
		for i := 0; i < len(atom); i++ {
			if !isAtext(atom[i]) {
				return false
			}
		}
	}
	return true
}

// isAtext reports whether c may appear in an atom (RFC 5322 §3.2.3 atext,
// plus the octets of UTF-8 sequences, RFC 6531 §3.3).
func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c >= 0x80:
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// NormalizeLineEndings returns b with every bare LF, bare CR and CRLF as a
// CRLF, ending with one (RFC 5321 §2.3.8). Accept applies it to every
// submission. Mail already in that form, nearly all of it, is returned as
// it is, not copied.
func NormalizeLineEndings(b []byte) []byte {
	if canonicalLineEndings(b) {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/32+2)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			out = append(out, '\r', '\n')
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}

// canonicalLineEndings reports whether every CR and LF in b pairs up as
// CRLF and b is empty or ends with one. It looks at the line ends only
// (bytes.IndexByte is vectorised), not at every byte.
func canonicalLineEndings(b []byte) bool {
	if len(b) > 0 && !bytes.HasSuffix(b, []byte("\r\n")) {
		return false
	}
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		if i+j == 0 || b[i+j-1] != '\r' {
			return false
		}
		i += j + 1
	}
	// Every LF has its CR; a CR without its LF is left.
	return bytes.Count(b, []byte("\r")) == bytes.Count(b, []byte("\n"))
}
