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
