package intake

import (
	"errors"
	"fmt"
)

// SMTP reply codes (RFC 5321 §4.2.3) of the refusals of SPEC §3.
const (
	CodeAuthTemporary = 454 // RFC 4954 §6: 4.7.0 temporary authentication failure
	CodeAuthRequired  = 530 // RFC 4954 §6: 5.7.0
	CodeAuthFailed    = 535 // RFC 4954 §6: 5.7.8 credentials invalid
	CodeLocalError    = 451 // RFC 5321 §4.2.3: local error in processing
	CodeInsufficient  = 452 // RFC 5321 §4.5.3.1.10: too many recipients (4.5.3)
	CodeTooBig        = 552 // RFC 1870 §6.2: 5.3.4 message too big
	CodeMailboxSyntax = 553 // RFC 5321 §4.2.3: mailbox name not allowed
	CodeRejected      = 550 // RFC 5321 §4.2.3: policy rejection
	CodeTransaction   = 554 // RFC 5321 §4.2.3: transaction failed
)

// Enhanced status codes (RFC 3463).
const (
	enhancedAuthTemp    = "4.7.0"
	enhancedAuthReq     = "5.7.0"
	enhancedAuthFailed  = "5.7.8"
	enhancedPolicy      = "5.7.1" // delivery not authorized, message refused
	enhancedPolicyTemp  = "4.7.1"
	enhancedSystem      = "4.3.0" // other or undefined mail system status
	enhancedTooMany     = "4.5.3" // too many recipients
	enhancedTooBig      = "5.3.4" // message too big for system
	enhancedBadDest     = "5.1.3" // bad destination mailbox address syntax
	enhancedBadSender   = "5.1.7" // bad sender's mailbox address syntax
	enhancedNoRecipient = "5.5.1" // invalid command (no valid recipients)
	enhancedLoop        = "5.4.6" // routing loop detected
)

// Error is a check's refusal of a message, or of a step of its submission.
// Text is short and generic, for the client; Detail is for the log only.
type Error struct {
	Code     int    // SMTP reply code
	Enhanced string // RFC 3463 enhanced status code, e.g. "5.7.1"
	Text     string // for the client
	Check    string // which check refused
	Detail   string // for the log
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%d %s %s", e.Code, e.Enhanced, e.Text)
	if e.Check != "" || e.Detail != "" {
		s += " (" + e.Check
		if e.Detail != "" {
			if e.Check != "" {
				s += ": "
			}
			s += e.Detail
		}
		s += ")"
	}
	return s
}

// Temporary reports whether the client should retry later (a 4xx reply).
func (e *Error) Temporary() bool { return e.Code/100 == 4 }

// AsError returns err as an *Error. Anything else is treated as a temporary
// local problem: unknown means temporary, so nothing is lost.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return LocalError("", err.Error())
}

func newError(code int, enhanced, text, check, detail string) *Error {
	return &Error{Code: code, Enhanced: enhanced, Text: text, Check: check, Detail: detail}
}

// AuthRequired: no AUTH and the client is not in a trusted network.
func AuthRequired(detail string) *Error {
	return newError(CodeAuthRequired, enhancedAuthReq, "Authentication required", "auth", detail)
}

// AuthFailed: unknown user, wrong password or suspended account; the client
// cannot tell which.
func AuthFailed(detail string) *Error {
	return newError(CodeAuthFailed, enhancedAuthFailed, "Authentication credentials invalid", "auth", detail)
}

// AuthUnavailable: the credentials could not be checked (store down).
func AuthUnavailable(detail string) *Error {
	return newError(CodeAuthTemporary, enhancedAuthTemp, "Temporary authentication failure", "auth", detail)
}

// SenderNotAllowed: the envelope sender's domain is not the account's.
func SenderNotAllowed(detail string) *Error {
	return newError(CodeMailboxSyntax, enhancedPolicy, "Sender address not allowed for this account", "sender", detail)
}

// BadSender: the envelope sender is not a valid address.
func BadSender(detail string) *Error {
	return newError(CodeMailboxSyntax, enhancedBadSender, "Bad sender address syntax", "sender", detail)
}

// BadRecipient: a recipient is not a valid address.
func BadRecipient(detail string) *Error {
	return newError(CodeMailboxSyntax, enhancedBadDest, "Bad recipient address syntax", "recipient", detail)
}

// NoRecipients: a message without any recipient.
func NoRecipients() *Error {
	return newError(CodeTransaction, enhancedNoRecipient, "No valid recipients", "recipient", "")
}

// OverLimit: a volume limit is reached; the client retries later.
func OverLimit(check, detail string) *Error {
	return newError(CodeLocalError, enhancedPolicyTemp, "Sending limit reached, try again later", check, detail)
}

// TooManyRecipients: a recipient limit is reached (SPEC §3).
func TooManyRecipients(check, detail string) *Error {
	return newError(CodeInsufficient, enhancedTooMany, "Too many recipients", check, detail)
}

// LimitReached: a volume limit on messages is reached (SPEC §3); text says
// which and when it frees, so the client's operator can tell.
func LimitReached(check, text, detail string) *Error {
	return newError(CodeLocalError, enhancedPolicyTemp, text, check, detail)
}

// RecipientLimitReached: a volume limit on recipients is reached (SPEC §3).
func RecipientLimitReached(check, text, detail string) *Error {
	return newError(CodeInsufficient, enhancedTooMany, text, check, detail)
}

// ScanUnavailable: a content scanner is down or timed out and scan.fail is
// "tempfail": the client keeps the message and retries.
func ScanUnavailable(check, detail string) *Error {
	return newError(CodeLocalError, enhancedPolicyTemp, "Content scan unavailable, try again later", check, detail)
}

// Spam: the spam score is at or over the reject score.
func Spam(check, detail string) *Error {
	return newError(CodeRejected, enhancedPolicy, "Message refused as spam", check, detail)
}

// Virus: the message carries malware.
func Virus(check, detail string) *Error {
	return newError(CodeTransaction, enhancedPolicy, "Message refused: virus found", check, detail)
}

// TooBig: the message is over the size limit.
func TooBig(detail string) *Error {
	return newError(CodeTooBig, enhancedTooBig, "Message too big", "size", detail)
}

// AccountSuspended: the account may not send.
func AccountSuspended(detail string) *Error {
	return newError(CodeRejected, enhancedPolicy, "Account suspended", "account", detail)
}

// AccountHeld: the account is held until an admin releases it; the client
// keeps the message and retries.
func AccountHeld(detail string) *Error {
	return newError(CodeLocalError, enhancedPolicyTemp, "Account on hold, try again later", "account", detail)
}

// FromRefused: the From: field breaks SPEC §3's rule; text says which part.
func FromRefused(text, detail string) *Error {
	return newError(CodeRejected, enhancedPolicy, text, "from", detail)
}

// FromUnverified: a foreign From: domain's DKIM signature could not be
// checked now (its key lookup failed); the client retries.
func FromUnverified(text, detail string) *Error {
	return newError(CodeLocalError, enhancedPolicyTemp, text, "from", detail)
}

// Loop: too many Received: fields, the mark of a mail loop (RFC 5321
// §6.3).
func Loop(detail string) *Error {
	return newError(CodeTransaction, enhancedLoop, "Too many Received: header fields: mail loop", "loop", detail)
}

// LocalError: a temporary problem on our side (store, scanner down).
func LocalError(check, detail string) *Error {
	return newError(CodeLocalError, enhancedSystem, "Local error, try again later", check, detail)
}
