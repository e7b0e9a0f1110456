package deliver

import (
	"sendpool/internal/queue"
	"sendpool/internal/smtpreply"
)

// The stages a reply or an error is classified at.
const (
	StageConnect  = "connect"
	StageGreeting = "greeting"
	StageEHLO     = "ehlo"
	StageStartTLS = "starttls"
	StageMail     = "mail"
	StageRcpt     = "rcpt"
	StageData     = "data" // the DATA command
	StageEOD      = "eod"  // the end of data: the message's own reply
)

// Classifier decides what a receiver's reply, or an error, means. reply is
// "CODE ENH text" on one line, or an error's text for connection, TLS and
// timeout failures.
type Classifier interface {
	Classify(stage, mx, reply string) queue.Classification
}

// basicClassifier is the fallback when none is configured: the reply
// code's class decides (RFC 5321 §4.2.1), and anything that is not a reply
// is temporary, since unknown errors must not bounce mail.
type basicClassifier struct{}

func (basicClassifier) Classify(stage, mx, reply string) queue.Classification {
	r, ok := smtpreply.Parse(reply)
	switch {
	case !ok:
		return queue.Classification{Verdict: queue.VerdictDeferred, Category: "network", Rule: "basic-error"}
	case r.Code/100 == 2:
		return queue.Classification{Verdict: queue.VerdictDelivered, Category: "delivered", Rule: "basic-2xx"}
	case r.Code/100 == 4:
		return queue.Classification{Verdict: queue.VerdictDeferred, Category: "temporary", Rule: "basic-4xx"}
	case r.Code/100 == 5:
		return queue.Classification{Verdict: queue.VerdictPermanent, Category: "permanent", Rule: "basic-5xx"}
	}
	return queue.Classification{Verdict: queue.VerdictDeferred, Category: "protocol", Rule: "basic-unexpected"}
}

// classify asks the classifier about a failure. A failure is never
// "delivered", whatever a rule says.
func (c *Courier) classify(stage, mx, reply string) queue.Classification {
	cl := c.cfg.Classifier.Classify(stage, mx, reply)
	if cl.Verdict == "" || (cl.Verdict == queue.VerdictDelivered && !(stage == StageEOD && len(reply) > 0 && reply[0] == '2')) {
		cl.Verdict = queue.VerdictDeferred
	}
	return cl
}
