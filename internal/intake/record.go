package intake

import (
	"strings"

	"sendpool/internal/queue"
)

// record is the message's intake record (queue.Intake) as the checks left
// sub: how it came, from whom, what the scanners said. Accept adds the
// DKIM signatures once it has signed.
func record(sub *Submission) *queue.Intake {
	rec := &queue.Intake{Protocol: sub.Via, With: sub.Protocol, Auth: sub.Auth, TLS: sub.TLS,
		Scanners: sub.Scans}
	if sub.ClientIP.IsValid() {
		rec.ClientIP = sub.ClientIP.Unmap().String()
	}
	if sub.Account != nil {
		rec.Account = sub.Account.Name
	}
	rec.HeaderMessageID = headerMessageID(readHeader(sub.header()).messageID)
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
