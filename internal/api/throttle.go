package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"time"

	"sendpool/internal/clientip"
)

// AuthGuard throttles password guessing (internal/authguard): Check is
// asked before a credential is, and returns an error with a RetryAfter()
// time.Duration method past the limits; Fail is told of each wrong one,
// Succeed of each right one (which earns the client trust for that
// account; never call it for a mere attempt). user is the account name, ""
// for the admin token.
type AuthGuard interface {
	Check(ctx context.Context, client netip.Addr, user string) error
	Fail(ctx context.Context, client netip.Addr, user string)
	Succeed(ctx context.Context, client netip.Addr, user string)
}

// ThrottledText is the text of a refusal by the guard, as SMTP gives it
// (RFC 4954 §6: 454 4.7.0).
const ThrottledText = "Too many authentication failures, try again later"

// ThrottledError answers 429 Too Many Requests with a Retry-After (RFC 6585
// §4): a client refused by the guard.
type ThrottledError struct {
	Msg  string
	Wait time.Duration
}

func (e *ThrottledError) Error() string             { return e.Msg }
func (e *ThrottledError) StatusCode() int           { return http.StatusTooManyRequests }
func (e *ThrottledError) RetryAfter() time.Duration { return e.Wait }

// Throttled returns the *ThrottledError for a refusal of the guard.
func Throttled(msg string, refusal error) *ThrottledError {
	e := &ThrottledError{Msg: msg, Wait: time.Second}
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(refusal, &ra) {
		e.Wait = ra.RetryAfter()
	}
	return e
}

// SetRetryAfter sets the Retry-After header when err says how long to
// wait: whole seconds, rounded up, at least 1 (RFC 9110 §10.2.3).
func SetRetryAfter(w http.ResponseWriter, err error) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		w.Header().Set("Retry-After", fmt.Sprint(max(1, int64(math.Ceil(ra.RetryAfter().Seconds())))))
	}
}

// ClientAddr is r's client: its peer, or behind trusted proxies the client
// their X-Forwarded-For names (internal/clientip, whose Handler must wrap
// the server's handler for that).
func ClientAddr(r *http.Request) netip.Addr { return clientip.From(r) }

// throttled answers 429 when the guard refuses r's client another try of
// the admin token, and reports whether it did.
func (s *server) throttled(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.Guard == nil {
		return false
	}
	err := s.cfg.Guard.Check(r.Context(), ClientAddr(r), "")
	if err == nil {
		return false
	}
	s.log.WarnContext(r.Context(), "api: token attempt refused", "remote", r.RemoteAddr,
		"client_ip", ClientAddr(r).String(), "err", err)
	SetRetryAfter(w, err)
	writeError(w, http.StatusTooManyRequests, ThrottledText)
	return true
}

// tokenFailed tells the guard of a wrong admin token from r's client.
func (s *server) tokenFailed(r *http.Request) {
	if s.cfg.Guard != nil {
		s.cfg.Guard.Fail(r.Context(), ClientAddr(r), "")
	}
}
