package intake

import (
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
	if len(sub.Findings) > 0 {
		rec.Rules = make([]queue.IntakeRule, len(sub.Findings))
		for i, f := range sub.Findings {
			rec.Rules[i] = queue.IntakeRule{Scanner: f.Check, Rule: f.Rule, Score: f.Score, Detail: f.Detail}
			rec.Score += f.Score
		}
	}
	return rec
}
