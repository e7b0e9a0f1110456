// Package httpsend is the HTTP submission of SPEC §5, POST /api/v1/send:
// the account's credentials in HTTP Basic, the envelope and the raw
// message in JSON. It runs exactly the intake of SMTP submission (the same
// Service.Authenticate and Service.Accept, so the same status, sender,
// limit and scan checks) and maps intake's SMTP refusals to HTTP statuses,
// with the SMTP code and text in the JSON error.
package httpsend

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"sendpool/internal/api"
	"sendpool/internal/intake"
	"sendpool/internal/queue"
	"sendpool/internal/spool"
	"sendpool/internal/suppression"
)

// The SMTP reply of a client refused by the guard (RFC 4954 §6), which the
// 429's text repeats.
const (
	codeThrottled     = 454
	enhancedThrottled = "4.7.0"
)

// Config configures the SendFunc.
type Config struct {
	Intake         *intake.Service
	MaxMessageSize int64 // submission.max_message_size
	MaxRecipients  int   // submission.max_recipients
	// Guard throttles password guessing (internal/authguard); nil: none.
	// A client it refuses gets 429 with Retry-After, its password unchecked.
	Guard api.AuthGuard
	// Spool takes a large message to a file as its JSON is decoded
	// (internal/spool), as SMTP's DATA does; nil: every message is kept in
	// memory.
	Spool *spool.Dir
}

// New returns the api.SendFunc of POST /api/v1/send.
func New(cfg Config) api.SendFunc {
	return func(ctx context.Context, r *http.Request) (string, error) {
		user, pass, ok := r.BasicAuth()
		if !ok {
			return "", toHTTP(intake.AuthRequired("no HTTP Basic credentials"))
		}
		client := api.ClientAddr(r)
		if g := cfg.Guard; g != nil {
			if err := g.Check(ctx, client, user); err != nil {
				// The SMTP reply's words (RFC 4954 §6), as every refusal here.
				return "", api.Throttled(fmt.Sprintf("%d %s %s", codeThrottled, enhancedThrottled, api.ThrottledText), err)
			}
		}
		a, err := cfg.Intake.Authenticate(ctx, user, pass)
		if err != nil {
			if cfg.Guard != nil && intake.AsError(err).Code == intake.CodeAuthFailed {
				cfg.Guard.Fail(ctx, client, user)
			}
			return "", toHTTP(err)
		}
		// Only a right password earns the client trust (authguard.Succeed).
		if cfg.Guard != nil {
			cfg.Guard.Succeed(ctx, client, user)
		}
		// Before the body is read: a full disk takes no message (507).
		if err := cfg.Intake.CheckSpace(); err != nil {
			return "", toHTTP(err)
		}
		// JSON escaping can make the message up to six times larger
		// (\u00XX); twice the size plus room for the envelope covers any
		// sane client, and readRequest checks the raw size.
		req, err := readRequest(r, 2*cfg.MaxMessageSize+64<<10, cfg.Spool, cfg.MaxMessageSize, cfg.MaxRecipients)
		if err != nil {
			return "", err
		}
		defer req.body.Close()
		// /send takes HTTP Basic credentials only.
		sub := &intake.Submission{Account: a, From: req.From, To: req.To,
			ClientIP: client, Via: queue.ProtocolHTTP, Auth: queue.AuthPassword, TLS: r.TLS != nil}
		// As SMTP's DATA: a small message in memory behind room for the
		// Received field, a large one on file.
		if buf, room, ok := req.body.Memory(); ok {
			sub.Body, sub.Room = buf, room
		} else {
			sub.Spooled = req.body
		}
		id, err := cfg.Intake.Accept(ctx, sub)
		if err != nil {
			return "", toHTTP(err)
		}
		return id, nil
	}
}

// toHTTP turns an intake refusal into an *api.StatusError: temporary ones
// are 429 (a volume limit: retry later), 507 (the disk under
// store.min_free_space) or 503 (held account, scanner or store down); permanent ones 401 (authentication), 403 (policy), 413
// (size), 422 (content: spam or virus; a recipient on the account's
// suppression list) or 400 (addresses). The message is
// the SMTP reply, so that both protocols tell the same.
func toHTTP(err error) error {
	e := intake.AsError(err)
	msg := fmt.Sprintf("%d %s %s", e.Code, e.Enhanced, e.Text)
	return &api.StatusError{Code: Status(e), Msg: msg}
}

// Status is the HTTP status of an intake refusal.
func Status(e *intake.Error) int {
	switch {
	case e.Code == intake.CodeAuthRequired || e.Code == intake.CodeAuthFailed:
		return http.StatusUnauthorized
	case e.Check == "space":
		// RFC 4918 §11.5: the server cannot store what the request
		// needs; the text is SMTP's 452 4.3.1.
		return http.StatusInsufficientStorage
	case e.Check == "limit" || e.Code == intake.CodeInsufficient && e.Check != "recipients":
		return http.StatusTooManyRequests
	case e.Code == intake.CodeInsufficient:
		return http.StatusBadRequest
	case e.Temporary():
		return http.StatusServiceUnavailable
	case e.Code == intake.CodeTooBig:
		return http.StatusRequestEntityTooLarge
	case e.Check == "scan" || e.Check == suppression.CheckName:
		return http.StatusUnprocessableEntity
	case e.Code == intake.CodeMailboxSyntax && strings.HasPrefix(e.Enhanced, "5.1."):
		return http.StatusBadRequest
	case e.Code == intake.CodeTransaction && e.Enhanced == "5.5.1":
		return http.StatusBadRequest
	}
	return http.StatusForbidden
}
