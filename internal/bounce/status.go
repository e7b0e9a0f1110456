package bounce

import (
	"strings"

	"sendpool/internal/smtpreply"
)

// Enhanced status codes (RFC 3463) given when a reply carries none.
const (
	statusPermanent    = "5.0.0" // RFC 3463 §3.1: other undefined status
	statusTemporary    = "4.0.0"
	statusBadDomain    = "5.1.2"  // §3.2: bad destination system address
	statusNullMX       = "5.1.10" // RFC 7505 §4.2: the domain accepts no mail
	statusDNSTemporary = "4.4.3"  // §3.5: directory server failure
	statusNoAnswer     = "4.4.1"  // §3.5: no answer from host
	statusExpired      = "4.4.7"  // §3.5: delivery time expired
)

// Diagnostic types of the Diagnostic-Code field (RFC 3464 §2.3.6).
const (
	diagSMTP  = "smtp"       // the text is a receiver's SMTP reply
	diagLocal = "X-Sendpool" // our own description (a connection or DNS error)
)

// statusFor gives a recipient's Status (RFC 3464 §2.3.4): the enhanced code
// of the receiver's reply when it has one, otherwise one derived from the
// reply's class or, for our own errors, from the category the classifier
// gave. permanent says whether the failure was final.
func statusFor(reply, category string, permanent bool) string {
	if category == "expired" {
		return statusExpired
	}
	// The receiver's own status, unless its class contradicts the reply
	// code's: then the reply code's class decides.
	if r, ok := smtpreply.Parse(reply); ok && r.Valid() {
		switch {
		case r.Status() != "":
			return r.Status()
		case r.Code/100 == 5:
			return statusPermanent
		default:
			return statusTemporary
		}
	}
	switch {
	case category == "dns" && strings.Contains(strings.ToLower(reply), "null mx"):
		return statusNullMX
	case category == "dns" && permanent:
		return statusBadDomain
	case category == "dns":
		return statusDNSTemporary
	case category == "network" || category == "timeout":
		if permanent {
			return statusPermanent
		}
		return statusNoAnswer
	case permanent:
		return statusPermanent
	}
	return statusTemporary
}

// diagnostic gives the Diagnostic-Code value (RFC 3464 §2.3.6): "smtp; "
// and the reply as received, or our own description under an X- type.
func diagnostic(reply string) string {
	reply = oneLine(reply)
	if reply == "" {
		return ""
	}
	if r, ok := smtpreply.Parse(reply); ok && r.Valid() {
		return diagSMTP + "; " + reply
	}
	return diagLocal + "; " + reply
}

// oneLine makes text safe inside a header field: no CR, LF or other control
// characters, runs of space collapsed.
func oneLine(text string) string {
	return strings.Join(strings.FieldsFunc(text, func(r rune) bool {
		return r == ' ' || r == '\t' || r < 0x20 || r == 0x7f
	}), " ")
}
