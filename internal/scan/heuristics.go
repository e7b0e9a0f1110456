package scan

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The test strings every scanner must know. GTUBE is spam by definition
// (SpamAssassin's Generic Test for Unsolicited Bulk Email); EICAR is the
// anti-virus test file (eicar.org), a virus by definition.
const (
	GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
	EICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`
)

// Rule names and scores of the heuristics. A score of 6 (the default
// scan.spam_reject_score) refuses a message: one header slip never does,
// several tricks together do.
const (
	RuleGTUBE            = "GTUBE"
	RuleEICAR            = "EICAR"
	RuleMissingDate      = "MISSING_DATE"
	RuleBadDate          = "INVALID_DATE"
	RuleMissingMessageID = "MISSING_MESSAGE_ID"
	RuleBadMessageID     = "INVALID_MESSAGE_ID"
	RuleMissingFrom      = "MISSING_FROM"
	RuleBadFrom          = "INVALID_FROM"
	RuleFromForeign      = "FROM_NOT_ACCOUNT_DOMAIN"
	RuleExecutable       = "EXECUTABLE_ATTACHMENT"
	RuleDoubleExtension  = "DOUBLE_EXTENSION"
	RuleLinkMismatch     = "LINK_TEXT_MISMATCH"
	RuleShouting         = "SHOUTING_SUBJECT"
	RulePhishing         = "PHISHING_PHRASE"
	RuleHTMLOnly         = "HTML_ONLY"
	RuleHiddenText       = "HTML_HIDDEN_TEXT"
)

// Scores of the rules.
var scores = map[string]float64{
	RuleGTUBE:            1000,
	RuleEICAR:            0, // a virus: refused whatever the score
	RuleMissingDate:      1.0,
	RuleBadDate:          1.5,
	RuleMissingMessageID: 1.0,
	RuleBadMessageID:     1.0,
	RuleMissingFrom:      2.0,
	RuleBadFrom:          2.0,
	RuleFromForeign:      2.5,
	RuleExecutable:       5.0,
	RuleDoubleExtension:  3.0,
	RuleLinkMismatch:     3.0,
	RuleShouting:         1.5,
	RulePhishing:         2.5, // per phrase, three at most
	RuleHTMLOnly:         0.5,
	RuleHiddenText:       3.0,
}

// executableExt are attachment extensions that run when opened on Windows.
var executableExt = map[string]bool{
	"exe": true, "scr": true, "js": true, "jse": true, "vbs": true, "vbe": true, "bat": true,
	"cmd": true, "com": true, "pif": true, "msi": true, "hta": true, "wsf": true, "ps1": true,
	"jar": true, "lnk": true, "cpl": true,
}

// phishingPhrases are what credential-phishing mail says; lower case,
// matched on text with runs of white space made one space.
var phishingPhrases = []string{
	"verify your account",
	"confirm your account",
	"your account has been suspended",
	"your account will be suspended",
	"your account will be closed",
	"confirm your password",
	"update your payment information",
	"update your billing information",
	"unusual sign-in activity",
	"unusual login attempt",
	"your mailbox is full",
	"mailbox storage limit",
	"validate your mailbox",
	"click here to unlock",
	"click here to verify",
	"reset your password immediately",
	"wire transfer urgently",
}

// Heuristics is the built-in Scanner: rules on the message itself, no
// network. It never fails.
type Heuristics struct{}

// Name implements Scanner.
func (Heuristics) Name() string { return "heuristics" }

// Scan implements Scanner.
func (h Heuristics) Scan(ctx context.Context, in *Input) (Result, error) {
	var r Result
	hit := func(name, detail string) {
		r.Rules = append(r.Rules, Hit{Scanner: h.Name(), Name: name, Score: scores[name], Detail: detail})
		r.Score += scores[name]
	}
	p := parse(in.NewReader, int(in.Size()))

	// The test strings, raw anywhere or inside any decoded part (a base64
	// attachment hides them from a raw search).
	var gtube, eicar bool
	if in.Spooled == nil {
		gtube, eicar = testStrings(in.Body)
	} else if d, err := readPart(in.NewReader(), 0, int(in.Size())); err == nil {
		gtube, eicar = d.gtube, d.eicar
	}
	for _, pt := range p.parts {
		gtube, eicar = gtube || pt.gtube, eicar || pt.eicar
	}
	if gtube {
		hit(RuleGTUBE, "GTUBE test string")
		r.Spam = true
	}
	if eicar {
		hit(RuleEICAR, "EICAR test file")
		r.Virus = "Eicar-Test-Signature"
	}

	headerRules(p, in, hit)
	attachmentRules(p, hit)
	plain, html := p.text()
	if len(html) > 0 && len(plain) == 0 {
		hit(RuleHTMLOnly, "")
	}
	// Each document is read once for the three things asked of it.
	facts := make([]htmlFacts, len(html))
	for i, doc := range html {
		facts[i] = analyzeHTML(doc)
	}
	for _, a := range facts {
		if a.mismatch != "" {
			hit(RuleLinkMismatch, a.mismatch)
			break
		}
	}
	for _, a := range facts {
		if a.hidden != "" {
			hit(RuleHiddenText, a.hidden)
			break
		}
	}
	// The text the phrases are looked for in, built in one buffer of the
	// right size: at 100 KB the copies showed in the bench's profile.
	subject, _ := p.header.Text("Subject")
	n := len(subject) + 1
	for _, t := range plain {
		n += len(t) + 1
	}
	for _, a := range facts {
		n += len(a.text) + 1
	}
	text := make([]byte, 0, n)
	text = append(append(text, subject...), '\n')
	for _, t := range plain {
		text = append(append(text, t...), '\n')
	}
	for _, a := range facts {
		text = append(append(text, a.text...), '\n')
	}
	found := phrasesIn(text)
	for i, ph := range found {
		if i == 3 {
			break
		}
		hit(RulePhishing, ph)
	}
	if shouting(subject) {
		hit(RuleShouting, subject)
	}
	return r, nil
}

var msgIDRE = regexp.MustCompile(`^<[^<>@\s]+@[^<>@\s]+>$`)

// headerRules checks Date, Message-ID and From (RFC 5322 §3.6: each
// message has exactly one Date and one From; Message-ID SHOULD be there).
func headerRules(p *parsed, in *Input, hit func(name, detail string)) {
	h := p.header
	if v := h.Get("Date"); v == "" {
		hit(RuleMissingDate, "")
	} else if _, err := mail.ParseDate(v); err != nil {
		hit(RuleBadDate, v)
	}
	if v := strings.TrimSpace(h.Get("Message-Id")); v == "" {
		hit(RuleMissingMessageID, "")
	} else if !msgIDRE.MatchString(v) {
		hit(RuleBadMessageID, v)
	}
	v := h.Get("From")
	if v == "" {
		hit(RuleMissingFrom, "")
		return
	}
	list, err := mail.ParseAddressList(v)
	if err != nil || len(list) == 0 {
		hit(RuleBadFrom, v)
		return
	}
	if len(in.Domains) == 0 {
		return
	}
	for _, a := range list {
		at := strings.LastIndexByte(a.Address, '@')
		d := strings.ToLower(a.Address[at+1:])
		if !ownsDomain(in.Domains, d) {
			hit(RuleFromForeign, a.Address)
			return
		}
	}
}

func ownsDomain(domains []string, d string) bool {
	for _, own := range domains {
		if d == own || strings.HasSuffix(d, "."+own) {
			return true
		}
	}
	return false
}

// attachmentRules looks at the file names of the parts.
func attachmentRules(p *parsed, hit func(name, detail string)) {
	exe, double := "", ""
	for _, pt := range p.parts {
		name := strings.ToLower(strings.TrimRight(pt.filename, ". "))
		exts := strings.Split(name, ".")
		if len(exts) < 2 {
			continue
		}
		last := exts[len(exts)-1]
		if !executableExt[last] {
			continue
		}
		if exe == "" {
			exe = pt.filename
		}
		// "invoice.pdf.exe": the name shows a harmless type, Windows runs
		// the last one.
		if len(exts) >= 3 && double == "" && len(exts[len(exts)-2]) >= 2 && len(exts[len(exts)-2]) <= 4 {
			double = pt.filename
		}
	}
	if exe != "" {
		hit(RuleExecutable, exe)
	}
	if double != "" {
		hit(RuleDoubleExtension, double)
	}
}

// shouting: a subject of at least 10 letters, four in five capitals.
func shouting(s string) bool {
	letters, upper := 0, 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	return letters >= 10 && upper*5 >= letters*4
}

// phrases returns the phishing phrases text holds, in list order.
func phrases(text string) []string { return phrasesIn([]byte(text)) }

// phrasesIn is phrases on text it may overwrite. ASCII text, the usual
// case, is lower-cased and its white space collapsed in place, and the
// places where two bytes start some phrase noted in the same pass; only
// those are looked at closer. It runs on every message's whole text and
// showed in the bench's profile (at 100 KB: a pass to normalize, a pass to
// match, two copies). Other text takes normalizeSpace's Unicode-aware way.
func phrasesIn(text []byte) []string {
	var found [64]bool
	if !asciiOnly(text) {
		t := normalizeSpace(string(text))
		for i := 0; i+1 < len(t); i++ {
			if phraseStarts[uint16(t[i])<<8|uint16(t[i+1])] {
				matchAt(t[i:], &found)
			}
		}
		return foundPhrases(&found)
	}
	// Without branches on the bytes (random-looking text defeats the
	// predictor): each byte is written, and n moves on unless it is a
	// space after a space. prev is the byte before; no phrase starts with
	// a space, so a pair ending in one is never taken for a start.
	var starts []int
	n, prevSpace, prev := 0, 1, byte(' ') // no leading space
	for _, c := range text {
		c = asciiFold[c] // NUL stays NUL, as in strings.Fields
		space := int(foldSpace[c])
		text[n] = c
		if phraseStarts[uint16(prev)<<8|uint16(c)] {
			starts = append(starts, n-1)
		}
		n += 1 - space&prevSpace
		prevSpace, prev = space, c
	}
	t := text[:n]
	for _, i := range starts {
		matchAt(string(t[i:min(len(t), i+maxPhraseLen)]), &found)
	}
	return foundPhrases(&found)
}

// matchAt marks the phrases t starts with.
func matchAt(t string, found *[64]bool) {
	for k, ph := range phishingPhrases {
		if ph[0] == t[0] && strings.HasPrefix(t, ph) {
			found[k] = true
		}
	}
}

func foundPhrases(found *[64]bool) []string {
	var out []string
	for k, ph := range phishingPhrases {
		if found[k] {
			out = append(out, ph)
		}
	}
	return out
}

// asciiOnly reports whether b is all ASCII, eight bytes at a time.
func asciiOnly(b []byte) bool {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(b); i++ {
		if b[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// foldSpace is 1 for the space asciiFold makes of white space.
var foldSpace = func() (t [256]uint8) {
	t[' '] = 1
	return t
}()

// maxPhraseLen is the length of the longest phishing phrase.
var maxPhraseLen = func() int {
	n := 0
	for _, ph := range phishingPhrases {
		n = max(n, len(ph))
	}
	return n
}()

// phraseStarts marks the first two bytes of every phishing phrase (each
// longer than two bytes, at most 64 of them); read-only after init.
var phraseStarts = func() (t [1 << 16]bool) {
	if len(phishingPhrases) > 64 {
		panic("scan: more phishing phrases than phrases can track")
	}
	for _, ph := range phishingPhrases {
		if ph[0] == ' ' || ph[1] == ' ' {
			panic("scan: a phishing phrase starts with a space")
		}
		t[uint16(ph[0])<<8|uint16(ph[1])] = true
	}
	return t
}()

// String describes a hit, for logs.
func (h Hit) String() string { return fmt.Sprintf("%s:%s(%s)", h.Scanner, h.Name, trimFloat(h.Score)) }

// normalizeSpace is strings.ToLower(strings.Join(strings.Fields(text), " ")):
// lower case, each run of white space one space. ASCII text, the usual
// case, takes one pass instead of three (it runs on every message, and
// showed in the bench's profile); other text takes the Unicode-aware way,
// so no-break spaces and the like still separate words.
func normalizeSpace(text string) string {
	b := make([]byte, len(text))
	n := 0
	space := true // no leading space
	for i := 0; i < len(text); i++ {
		c := asciiFold[text[i]]
		if c == ' ' {
			if !space {
				b[n] = ' '
				n++
				space = true
			}
			continue
		}
		if c == 0 { // not ASCII (or NUL, which Fields keeps: so does this)
			if text[i] != 0 {
				return strings.ToLower(strings.Join(strings.Fields(text), " "))
			}
		}
		b[n] = c
		n++
		space = false
	}
	if n > 0 && b[n-1] == ' ' {
		n--
	}
	return string(b[:n])
}

// asciiFold maps an ASCII byte to its lower case, ASCII white space to a
// space, and every other byte to 0, for normalizeSpace's one table look-up
// a byte (branches on random-looking text cost more than the work).
var asciiFold = func() (t [256]byte) {
	for c := 0; c < utf8.RuneSelf; c++ {
		t[c] = byte(c)
		if 'A' <= c && c <= 'Z' {
			t[c] = byte(c) + 'a' - 'A'
		}
	}
	for _, c := range []byte{' ', '\t', '\n', '\r', '\v', '\f'} {
		t[c] = ' '
	}
	return t
}()

// testStrings reports whether b holds GTUBE and EICAR. Both hold
// "-STANDARD-ANTI", whose first byte is rare in text, so most messages
// take one vectorised search rather than two that stop at every 'X'.
func testStrings(b []byte) (gtube, eicar bool) {
	if !bytes.Contains(b, []byte("-STANDARD-ANTI")) {
		return false, false
	}
	return bytes.Contains(b, []byte(GTUBE)), bytes.Contains(b, []byte(EICAR))
}
