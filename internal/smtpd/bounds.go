package smtpd

import (
	"errors"

	"github.com/emersion/go-smtp"
)

// RFC 4954 §4: a response that cannot be decoded or parsed.
var errAuthMalformed = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 2},
	Message: "Malformed authentication exchange"}

// saslReplies makes every error of a SASL exchange a reply of ours:
// go-sasl's own ("sasl: …") would reach the client as they are.
type saslReplies struct {
	next func([]byte) ([]byte, bool, error)
}

func (s saslReplies) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := s.next(response)
	if err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			return nil, false, errAuthMalformed
		}
		return nil, false, se
	}
	return challenge, done, nil
}
