package intake

import (
	"bytes"
	"strings"

	"sendpool/internal/queue"
)

// record is the message's intake record (queue.Intake) as the checks left
// sub: how it came, from whom, what the scanners said. Accept adds the
// DKIM signatures once it has signed.
func record(sub *Submission) *queue.Intake {
	rec := &queue.Intake{Protocol: queue.ProtocolSMTP, With: sub.Protocol, TLS: sub.TLS,
		Scanners: sub.Scans}
	switch {
	case strings.EqualFold(sub.Protocol, "HTTP"):
		// /send takes HTTP Basic credentials only.
		rec.Protocol, rec.Auth = queue.ProtocolHTTP, queue.AuthPassword
	case strings.HasSuffix(sub.Protocol, "A"):
		// RFC 3848 §2: the "A" suffix says the client used SMTP AUTH.
		rec.Auth = queue.AuthPassword
	default:
		rec.Auth = queue.AuthNetwork
	}
	if sub.ClientIP.IsValid() {
		rec.ClientIP = sub.ClientIP.Unmap().String()
	}
	if sub.Account != nil {
		rec.Account = sub.Account.Name
	}
	rec.HeaderMessageID = headerMessageID(readHeader(sub.Body).msgID)
	if len(sub.Findings) > 0 {
		rec.Rules = make([]queue.IntakeRule, len(sub.Findings))
		for i, f := range sub.Findings {
			rec.Rules[i] = queue.IntakeRule{Scanner: f.Check, Rule: f.Rule, Score: f.Score, Detail: f.Detail}
			rec.Score += f.Score
		}
	}
	return rec
}

// maxMessageID bounds the Message-ID kept: a line's worth (RFC 5322 §2.1.1).
const maxMessageID = 998

// headerMessageID is a Message-ID field's msg-id without its angle brackets
// (RFC 5322 §3.6.4: "<" id-left "@" id-right ">", with comments and folding
// white space around it); the trimmed value if it has none.
func headerMessageID(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			v = v[i+1 : i+j]
		}
	}
	v = strings.Join(strings.Fields(v), "")
	if len(v) > maxMessageID {
		v = v[:maxMessageID]
	}
	return strings.ToValidUTF8(v, "")
}

// addedSignatures returns the DKIM signatures that signing put on top of
// msg to make signed (signers prepend their fields, RFC 6376 §5.6); none
// when signed is not msg with fields in front.
func addedSignatures(signed, msg []byte) []queue.DKIMSignature {
	if len(signed) <= len(msg) || !bytes.HasSuffix(signed, msg) {
		return nil
	}
	var out []queue.DKIMSignature
	for _, f := range headerFields(signed[:len(signed)-len(msg)]) {
		name, value, ok := strings.Cut(f, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "DKIM-Signature") {
			continue
		}
		var sig queue.DKIMSignature
		// RFC 6376 §3.2: tag=value pairs separated by ';', with folding
		// white space allowed around them.
		for _, tv := range strings.Split(value, ";") {
			tag, val, _ := strings.Cut(tv, "=")
			val = strings.Join(strings.Fields(val), "")
			switch strings.TrimSpace(tag) {
			case "d":
				sig.Domain = val
			case "s":
				sig.Selector = val
			case "a":
				sig.Algorithm = val
			}
		}
		out = append(out, sig)
	}
	return out
}

// headerFields splits header lines (CRLF or LF) into fields, each unfolded
// (RFC 5322 §2.2.3: a line starting with white space continues the field).
func headerFields(h []byte) []string {
	var fields []string
	for _, line := range strings.Split(strings.TrimRight(string(h), "\r\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if n := len(fields); n > 0 && line != "" && (line[0] == ' ' || line[0] == '\t') {
			fields[n-1] += line
			continue
		}
		fields = append(fields, line)
	}
	return fields
}
