package queue

// Intake is intake's verdict on one message, kept with it: how and from
// whom it came, what the scanners said and how it was signed. It answers
// "why did this get through" for as long as the message is kept, where the
// events list (internal/events) is bounded and shared by every account.
// Stores keep it as one compact value written by Put: no extra round trip.
type Intake struct {
	// Protocol is how the message came: ProtocolSMTP or ProtocolHTTP.
	Protocol string `json:"protocol"`
	// With is the protocol's RFC 3848 keyword ("ESMTPSA", …), "HTTP" for
	// the API, as the Received header names it.
	With     string `json:"with,omitempty"`
	ClientIP string `json:"client_ip,omitempty"`
	// Account is the account the client was taken for, and Auth how:
	// AuthPassword (SMTP AUTH, HTTP Basic) or AuthNetwork (a trusted
	// network, no password).
	Account string `json:"account,omitempty"`
	Auth    string `json:"auth,omitempty"`
	TLS     bool   `json:"tls"`
	// Score is the scanners' total; Rules each rule that fired, with its
	// score (heuristics, rspamd symbols, …), highest first.
	Score float64      `json:"score"`
	Rules []IntakeRule `json:"rules,omitempty"`
	// Scanners is each scanner's answer (clamd "clean", …).
	Scanners []ScanVerdict `json:"scanners,omitempty"`
	// DKIM is each signature intake added, in the message's order.
	DKIM []DKIMSignature `json:"dkim,omitempty"`
	// HeaderMessageID is the message's own Message-ID field (RFC 5322
	// §3.6.4) without its angle brackets, "" if it has none: webhooks name
	// it beside sendpool's id, so the sender's system can match its own,
	// and the delivery log's search finds it.
	HeaderMessageID string `json:"header_message_id,omitempty"`
	// Direction is DirectionInbound for mail the MX took for a hosted
	// domain (internal/inbound); empty for mail submitted by an account.
	Direction string `json:"direction,omitempty"`
}

// DirectionInbound: the message came in through the MX (SPEC §7).
const DirectionInbound = "inbound"

// Values of Intake.Protocol and Intake.Auth.
const (
	ProtocolSMTP = "smtp"
	ProtocolHTTP = "http"
	AuthPassword = "password"
	AuthNetwork  = "network"
)

// IntakeRule is one scan rule that fired on a message.
type IntakeRule struct {
	Scanner string  `json:"scanner"`
	Rule    string  `json:"rule"`
	Score   float64 `json:"score"`
	Detail  string  `json:"detail,omitempty"`
}

// ScanVerdict is one scanner's answer on a message.
type ScanVerdict struct {
	Scanner string `json:"scanner"`
	// Result is ScanClean, ScanSpam, ScanVirus or ScanUnavailable (the
	// scanner did not answer and scan.fail is "accept").
	Result string  `json:"result"`
	Score  float64 `json:"score"`
	Detail string  `json:"detail,omitempty"` // the virus's name, the error
}

// Values of ScanVerdict.Result.
const (
	ScanClean       = "clean"
	ScanSpam        = "spam"
	ScanVirus       = "virus"
	ScanUnavailable = "unavailable"
)

// DKIMSignature is one DKIM-Signature put on a message (RFC 6376 §3.5
// tags d=, s=, a=).
type DKIMSignature struct {
	Domain    string `json:"d"`
	Selector  string `json:"s"`
	Algorithm string `json:"a"`
}
