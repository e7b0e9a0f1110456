package mongo

import "sendpool/internal/queue"

// intakeDoc is a message's intake record (queue.Intake), a subdocument of
// the message written with it by Put. Short keys: it is on every message.
type intakeDoc struct {
	Protocol string         `bson:"proto"`
	With     string         `bson:"with,omitempty"`
	ClientIP string         `bson:"ip,omitempty"`
	Account  string         `bson:"acct,omitempty"`
	Auth     string         `bson:"auth,omitempty"`
	TLS      bool           `bson:"tls"`
	Score    float64        `bson:"score"`
	Rules    []ruleDoc      `bson:"rules,omitempty"`
	Scanners []scanDoc      `bson:"scans,omitempty"`
	DKIM     []signatureDoc `bson:"dkim,omitempty"`
	MsgID    string         `bson:"mid,omitempty"` // queue.Intake.HeaderMessageID
}

type ruleDoc struct {
	Scanner string  `bson:"sc"`
	Rule    string  `bson:"r"`
	Score   float64 `bson:"v"`
	Detail  string  `bson:"det,omitempty"`
}

type scanDoc struct {
	Scanner string  `bson:"sc"`
	Result  string  `bson:"res"`
	Score   float64 `bson:"v"`
	Detail  string  `bson:"det,omitempty"`
}

type signatureDoc struct {
	Domain    string `bson:"d"`
	Selector  string `bson:"s"`
	Algorithm string `bson:"a"`
}

func newIntakeDoc(in *queue.Intake) *intakeDoc {
	if in == nil {
		return nil
	}
	d := &intakeDoc{Protocol: in.Protocol, With: in.With, ClientIP: in.ClientIP, Account: in.Account,
		Auth: in.Auth, TLS: in.TLS, Score: in.Score, MsgID: in.HeaderMessageID}
	for _, r := range in.Rules {
		d.Rules = append(d.Rules, ruleDoc(r))
	}
	for _, s := range in.Scanners {
		d.Scanners = append(d.Scanners, scanDoc(s))
	}
	for _, s := range in.DKIM {
		d.DKIM = append(d.DKIM, signatureDoc(s))
	}
	return d
}

// intake is d as the queue model has it; nil for none.
func (d *intakeDoc) intake() *queue.Intake {
	if d == nil {
		return nil
	}
	in := &queue.Intake{Protocol: d.Protocol, With: d.With, ClientIP: d.ClientIP, Account: d.Account,
		Auth: d.Auth, TLS: d.TLS, Score: d.Score, HeaderMessageID: d.MsgID}
	for _, r := range d.Rules {
		in.Rules = append(in.Rules, queue.IntakeRule(r))
	}
	for _, s := range d.Scanners {
		in.Scanners = append(in.Scanners, queue.ScanVerdict(s))
	}
	for _, s := range d.DKIM {
		in.DKIM = append(in.DKIM, queue.DKIMSignature(s))
	}
	return in
}
