// Package smtpreply parses the one-line form of an SMTP reply that the
// courier records and the classifier and bounces read: "CODE ENH text",
// a reply code (RFC 5321 §4.2) followed by an enhanced status code
// (RFC 3463 §2) when the receiver gives one. A multi-line reply arrives
// joined into one line; its first line may keep the "CODE-" of a
// continuation (RFC 5321 §4.2.1).
//
// The package only parses: what a code means, and which codes a caller
// accepts, is the caller's business.
package smtpreply

import "strings"

// Reply is a parsed one-line reply.
type Reply struct {
	// Code is the three-digit reply code, 000 to 999: RFC 5321 §4.2.1
	// gives meaning only to 2yz to 5yz, and callers differ on what they do
	// with the rest.
	Code int
	// Enhanced is the enhanced status code as written after the reply
	// code, "" if there is none. Its class may contradict the reply code's;
	// Status gives it only when it does not.
	Enhanced string
	// Text is what follows the codes.
	Text string
}

// Parse reads s as "CODE ENH text", "CODE text", "CODE-ENH text" or
// "CODE". ok is false when s does not start with three digits followed by
// the end, a space or a hyphen: a connection or DNS error's text rather
// than a reply. s is taken as it is: white space is not collapsed, and the
// enhanced code must be followed by a space or the end.
func Parse(s string) (r Reply, ok bool) {
	if len(s) < 3 || !isDigits(s[:3]) || len(s) > 3 && s[3] != ' ' && s[3] != '-' {
		return Reply{}, false
	}
	r.Code = int(s[0]-'0')*100 + int(s[1]-'0')*10 + int(s[2]-'0')
	// Any run of spaces and hyphens separates the code from the rest:
	// "550-5.1.1", "550 5.1.1", "550 - 5.1.1" alike.
	rest := strings.TrimLeft(s[3:], " -")
	first, after, _ := strings.Cut(rest, " ")
	if IsEnhanced(first) {
		r.Enhanced = first
		rest = strings.TrimLeft(after, " ")
	}
	r.Text = rest
	return r, true
}

// Valid reports whether Code is one SMTP uses, 2yz to 5yz (RFC 5321
// §4.2.1: 1yz is defined but no SMTP command has one, and the first digit
// goes no higher than 5).
func (r Reply) Valid() bool {
	return r.Code >= 200 && r.Code <= 599
}

// Status is the enhanced status code when its class agrees with the reply
// code's first digit, otherwise "". A receiver saying "550 2.1.5" contradicts
// itself, and the reply code decides the outcome (RFC 5321 §4.2.1).
func (r Reply) Status() string {
	if r.Enhanced == "" || int(r.Enhanced[0]-'0') != r.Code/100 {
		return ""
	}
	return r.Enhanced
}

// IsEnhanced reports whether s is an enhanced status code
// "class.subject.detail" (RFC 3463 §2): class 2, 4 or 5, subject and detail
// of one to three digits.
func IsEnhanced(s string) bool {
	class, rest, ok := strings.Cut(s, ".")
	if !ok || len(class) != 1 || !strings.Contains("245", class) {
		return false
	}
	subject, detail, ok := strings.Cut(rest, ".")
	return ok && isSubCode(subject) && isSubCode(detail)
}

// isSubCode reports whether s is a subject or detail sub-code: one to three
// digits (RFC 3463 §2).
func isSubCode(s string) bool {
	return len(s) >= 1 && len(s) <= 3 && isDigits(s)
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Final parses a whole reply that may span several lines: separated by line
// breaks, as a transcript shows them, or joined into one line with each
// line's "CODE-" kept, as bounce messages and logs often quote them
// ("550-5.7.25 The IP address … 550-5.7.25 PTR record … 550 5.7.25 …").
// RFC 5321 §4.2.1: every line but the last has a hyphen after the code and
// the last has a space, so the last line's code is the reply's code; a
// receiver that starts "220-" and ends "421" has refused, not greeted.
//
// Code and Enhanced are the final line's (Enhanced from an earlier line of
// the same code when the final one has none). Text is every line's text
// joined by single spaces, the repeated codes taken out, so that wording
// split across lines reads as one sentence. White space inside a line is
// collapsed. ok is false when the first line is not a reply (Parse).
//
// In the one-line form a word is taken for a line's code when it is
// "CODE-…", or a bare code followed by an enhanced code of its class, or a
// bare code equal to the current one; after a 2yz or 3yz, also a bare 4yz
// or 5yz, since that is the case where misreading costs a message. Only
// text after a "CODE-" is searched: a reply whose first line ends with a
// space has no more lines.
func Final(s string) (r Reply, ok bool) {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return Reply{}, false
	}
	var words []string
	for i, line := range lines {
		p, isReply := Parse(line)
		if !isReply {
			if i == 0 {
				return Reply{}, false
			}
			words = append(words, line) // a line without a code: text
			continue
		}
		r.line(p.Code, p.Enhanced)
		if len(line) > 3 && line[3] == '-' {
			words = r.joined(strings.Fields(p.Text), words)
		} else if p.Text != "" {
			words = append(words, p.Text)
		}
	}
	r.Text = strings.Join(words, " ")
	return r, true
}

// line records that a line with code and enhanced code enh began.
func (r *Reply) line(code int, enh string) {
	if code != r.Code {
		r.Enhanced = ""
	}
	r.Code = code
	if enh != "" {
		r.Enhanced = enh
	}
}

// joined reads the words of a continuation line, which may hold the lines
// after it joined in (see Final), appending the text words to words.
func (r *Reply) joined(fields, words []string) []string {
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if len(f) < 3 || !isDigits(f[:3]) || f[0] < '2' || f[0] > '5' {
			words = append(words, f)
			continue
		}
		code := int(f[0]-'0')*100 + int(f[1]-'0')*10 + int(f[2]-'0')
		switch {
		case len(f) > 3 && f[3] == '-': // "550-5.7.1" or "554-No"
			rest := f[4:]
			enh := IsEnhanced(rest) && rest[0] == f[0]
			if !enh && code != r.Code && (r.Code >= 400 || code < 400) {
				words = append(words, f) // "300-400": a range in the text
				continue
			}
			if enh {
				r.line(code, rest)
			} else {
				r.line(code, "")
				if rest != "" {
					words = append(words, rest)
				}
			}
		case len(f) == 3:
			next := ""
			if i+1 < len(fields) {
				next = fields[i+1]
			}
			enh := IsEnhanced(next) && next[0] == f[0]
			if !enh && code != r.Code && (r.Code >= 400 || code < 400) {
				words = append(words, f) // a number in the text
				continue
			}
			if enh {
				i++
				r.line(code, next)
			} else {
				r.line(code, "")
			}
			// "CODE SP" starts the last line: the rest is its text.
			return append(words, fields[i+1:]...)
		default:
			words = append(words, f)
		}
	}
	return words
}
