// Package mtasts is MTA-STS (RFC 8461): a recipient domain's promise that
// its MX hosts take mail over TLS with certificates valid for their names.
// The domain announces a policy in DNS (the TXT record at
// _mta-sts.DOMAIN, whose id changes with the policy) and serves it over
// HTTPS (https://mta-sts.DOMAIN/.well-known/mta-sts.txt). Policies holds
// them for the delivery worker: looked up, fetched, cached for their
// max_age in the shared state (every node sees one node's fetch),
// refreshed ahead of expiry and kept when a refresh fails (§5).
package mtasts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mode is what a policy asks of senders (RFC 8461 §5).
type Mode string

// The modes of §3.2.
const (
	// ModeEnforce: deliver only to matching MX hosts over TLS with a
	// valid certificate, else not at all.
	ModeEnforce Mode = "enforce"
	// ModeTesting: deliver as without a policy, and report what would
	// have failed (TLS-RPT).
	ModeTesting Mode = "testing"
	// ModeNone: the domain no longer has a policy.
	ModeNone Mode = "none"
)

// MaxMaxAge is the largest max_age a policy may give: about a year
// (§3.2).
const MaxMaxAge = 31557600 * time.Second

// Policy is a parsed policy (§3.2).
type Policy struct {
	Mode   Mode
	MaxAge time.Duration
	// MX are the patterns of the hosts allowed: names, or "*." and a name
	// for any one label in front of it (§4.1).
	MX []string
	// Lines are the policy's lines as served, for reports (RFC 8460
	// §4.4's policy-string).
	Lines []string
}

// ErrSyntax is a policy or record that does not parse.
var ErrSyntax = errors.New("mtasts: syntax error")

// ParsePolicy parses a policy file strictly (RFC 8461 §3.2): "key: value"
// lines ending in LF or CRLF; version STSv1, mode and max_age are
// required, mx too unless the mode is none. Of a field given twice the
// first counts, but mx accumulates; unknown fields are ignored. Values
// are case-sensitive.
func ParsePolicy(text string) (*Policy, error) {
	p := &Policy{}
	seen := map[string]bool{}
	lines := strings.Split(strings.TrimSuffix(strings.TrimSuffix(text, "\n"), "\r"), "\n")
	for i, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		if line == "" && i == len(lines)-1 {
			break
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok || !validKey(key) {
			return nil, fmt.Errorf("%w: line %d: %q is not a \"key: value\" field", ErrSyntax, i+1, line)
		}
		value = strings.Trim(value, " \t")
		first := !seen[key]
		seen[key] = true
		p.Lines = append(p.Lines, key+": "+value)
		switch key {
		case "version":
			if value != "STSv1" {
				return nil, fmt.Errorf("%w: version %q, want STSv1", ErrSyntax, value)
			}
		case "mode":
			m := Mode(value)
			if m != ModeEnforce && m != ModeTesting && m != ModeNone {
				return nil, fmt.Errorf("%w: mode %q, want enforce, testing or none", ErrSyntax, value)
			}
			if first {
				p.Mode = m
			}
		case "max_age":
			// 1*10DIGIT, at most 31557600 (§3.2).
			n, err := strconv.ParseUint(value, 10, 64)
			if err != nil || len(value) > 10 || value[0] == '+' || time.Duration(n)*time.Second > MaxMaxAge {
				return nil, fmt.Errorf("%w: max_age %q, want 0 to 31557600 seconds", ErrSyntax, value)
			}
			if first {
				p.MaxAge = time.Duration(n) * time.Second
			}
		case "mx":
			pat := strings.ToLower(value)
			if !validPattern(pat) {
				return nil, fmt.Errorf("%w: mx %q is not a host name or \"*.\" and one", ErrSyntax, value)
			}
			p.MX = append(p.MX, pat)
		default:
			// An extension (§3.2): ignored, but it must be a value.
			if !printable(value) {
				return nil, fmt.Errorf("%w: field %q has a value with control characters", ErrSyntax, key)
			}
		}
	}
	for _, k := range []string{"version", "mode", "max_age"} {
		if !seen[k] {
			return nil, fmt.Errorf("%w: no %s field", ErrSyntax, k)
		}
	}
	if len(p.MX) == 0 && p.Mode != ModeNone {
		return nil, fmt.Errorf("%w: mode %s with no mx field", ErrSyntax, p.Mode)
	}
	return p, nil
}

// Matches reports whether the MX host host is allowed by the policy
// (§4.1): a pattern names it exactly, or "*.rest" matches one label in
// front of rest ("*.example.com" matches "mx.example.com", not
// "example.com" nor "a.b.example.com"). Names compare case-insensitively,
// with or without the final dot.
func (p *Policy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if MatchMX(pat, host) {
			return true
		}
	}
	return false
}

// MatchMX reports whether one mx pattern (lower case, as ParsePolicy
// keeps them) matches host (§4.1).
func MatchMX(pattern, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		label, parent, ok := strings.Cut(host, ".")
		return ok && label != "" && parent == rest
	}
	return host != "" && host == pattern
}

// validKey is sts-policy-field-name: 1*32(ALPHA / DIGIT / "_" / "-" / ".")
// with a letter or digit first (§3.2).
func validKey(k string) bool {
	if k == "" || len(k) > 32 || !alnum(k[0]) {
		return false
	}
	for i := 1; i < len(k); i++ {
		if c := k[i]; !alnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// validPattern is an mx value: a host name of A-labels (RFC 5321 §4.1.2's
// Domain), optionally after "*.".
func validPattern(p string) bool {
	p = strings.TrimPrefix(p, "*.")
	if p == "" || len(p) > 253 {
		return false
	}
	for _, label := range strings.Split(p, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !alnum(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

func alnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// printable is an extension value: printable ASCII or UTF-8, spaces inside.
func printable(v string) bool {
	for _, r := range v {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
