package intake

import (
	"sendpool/internal/queue"
	"sendpool/internal/received"
)

// protocol is the RFC 3848 "with" keyword of sub (received.With); "HTTP"
// for /send, which has none.
func protocol(sub *Submission) string {
	if sub.Via == queue.ProtocolHTTP {
		return "HTTP"
	}
	return received.With(sub.TLS, sub.Auth == queue.AuthPassword)
}
