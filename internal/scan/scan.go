// Package scan checks the content of a message before it is accepted:
// built-in heuristics (GTUBE, EICAR, header and attachment tricks), clamd
// over its INSTREAM protocol and rspamd over HTTP /checkv2. Each Scanner
// gives a Result; Combine adds them up into one verdict and one score, and
// Check plugs the whole into intake (SPEC §3: spam 550 5.7.1, virus
// 554 5.7.1, a scanner down 451 4.7.1 unless scan.fail is "accept").
package scan

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"sort"
	"strings"

	"sendpool/internal/queue"
)

// Input is one message to scan, with what the scanners may want to know.
type Input struct {
	Account  string
	Domains  []string // the account's sender domains
	From     string   // envelope sender; "" for <>
	To       []string
	ClientIP netip.Addr
	Body     []byte // the whole message, CRLF line endings
	// Spooled, when set, is the message instead of Body: a large one on
	// file, which the scanners read as a stream (issue 13).
	Spooled queue.Spooled
}

// NewReader returns a reader of the whole message.
func (in *Input) NewReader() io.Reader {
	if in.Spooled != nil {
		return in.Spooled.NewReader()
	}
	return bytes.NewReader(in.Body)
}

// Size is the message's size in bytes.
func (in *Input) Size() int64 {
	if in.Spooled != nil {
		return in.Spooled.Size()
	}
	return int64(len(in.Body))
}

// Hit is one rule that fired.
type Hit struct {
	Scanner string  `json:"scanner"`
	Name    string  `json:"name"`
	Score   float64 `json:"score"`
	Detail  string  `json:"detail,omitempty"`
}

// Result is a scanner's verdict, or several scanners' combined.
type Result struct {
	Spam  bool    `json:"spam"`            // certainly spam, whatever the score (GTUBE)
	Virus string  `json:"virus,omitempty"` // the malware's name
	Score float64 `json:"score"`
	Rules []Hit   `json:"rules,omitempty"`
}

// Scanner is one content check.
type Scanner interface {
	// Name names the scanner in rules and logs: "heuristics", "clamd", …
	Name() string
	// Scan returns the verdict on in. An error means the scanner could
	// not answer (down, timed out): it is not a verdict.
	Scan(ctx context.Context, in *Input) (Result, error)
}

// Combine adds results up: scores add, rules are listed by score (highest
// first), the first virus named wins, and spam is spam when any scanner
// says so or the total reaches rejectScore (0: no score threshold).
func Combine(rejectScore float64, rs ...Result) Result {
	var out Result
	for _, r := range rs {
		out.Score += r.Score
		out.Spam = out.Spam || r.Spam
		if out.Virus == "" {
			out.Virus = r.Virus
		}
		out.Rules = append(out.Rules, r.Rules...)
	}
	if rejectScore > 0 && out.Score >= rejectScore {
		out.Spam = true
	}
	sort.SliceStable(out.Rules, func(i, j int) bool { return out.Rules[i].Score > out.Rules[j].Score })
	return out
}

// RuleNames lists the rules of r as "NAME(score)", for logs.
func (r Result) RuleNames() string {
	s := make([]string, len(r.Rules))
	for i, h := range r.Rules {
		s[i] = h.Scanner + ":" + h.Name + "(" + trimFloat(h.Score) + ")"
	}
	return strings.Join(s, " ")
}

func trimFloat(f float64) string {
	s := strings.TrimRight(strings.TrimRight(formatFloat(f), "0"), ".")
	if s == "" || s == "-" {
		return "0"
	}
	return s
}
