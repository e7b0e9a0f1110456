package intake

import (
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
	if len(sub.Findings) > 0 {
		rec.Rules = make([]queue.IntakeRule, len(sub.Findings))
		for i, f := range sub.Findings {
			rec.Rules[i] = queue.IntakeRule{Scanner: f.Check, Rule: f.Rule, Score: f.Score, Detail: f.Detail}
			rec.Score += f.Score
		}
	}
	return rec
}
