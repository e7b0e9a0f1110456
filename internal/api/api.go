// Package api is sendpool's JSON HTTP API (SPEC §5): the sending IPs, the
// accounts, the queue, and the HTTP submission endpoint, plus /healthz and
// /metrics for probes and scrapers.
//
// Every /api/ route but /api/v1/send is an admin route: it needs
// "Authorization: Bearer TOKEN", always (with no token configured, none is
// answered: a loopback-trusting default lets any web page the admin opens,
// or any local user, drive the API). /api/v1/send authenticates the account itself
// (HTTP Basic, checked by the SendFunc), so hosting servers can use it without
// the admin token. /healthz and /metrics need no token: load balancers and
// Prometheus scrapers are configured with a URL, not a secret, and neither
// route reveals or changes anything an attacker could use.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sendpool/internal/account"
	"sendpool/internal/queue"
)

// maxJSONBody bounds admin request bodies: none is legitimately near it.
const maxJSONBody = 1 << 20

// SendFunc accepts a message submitted over HTTP (POST /api/v1/send): it
// authenticates the account from r (HTTP Basic), reads the body, runs the
// same checks as SMTP and queues the message. An error that has a
// StatusCode() int method (such as *StatusError) sets the reply's status and
// text; any other error answers 500 with a generic text.
type SendFunc func(ctx context.Context, r *http.Request) (id string, err error)

// Config holds the API's dependencies.
type Config struct {
	Queue    queue.Store
	Accounts account.Store
	IPs      IPSource // nil: no IPs listed
	// Token is the admin token; empty: admin routes answer nobody.
	Token string
	// Gatherer serves /metrics; an explicit registry, never the global one.
	// nil: /metrics answers 404.
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger     // nil: discard
	Now      func() time.Time // nil: time.Now
	Send     SendFunc         // nil: /api/v1/send answers 501
	// Events are the recent intake decisions and account events
	// (GET /api/v1/events, account_hold.go); nil: none.
	Events EventLog
	// Pprof serves Go's profiles under /debug/pprof/, as an admin route
	// (config http.pprof).
	Pprof bool
	// Domains serves /api/v1/domains (domains.go); nil: no such routes.
	Domains *Domains
	// Guard throttles admin-token guessing (throttle.go); nil: none.
	Guard AuthGuard
	// Replies serves GET /api/v1/ips/{address}/replies (replies.go); nil:
	// every IP's list is empty.
	Replies ReplySource
	// Suppressions serves /api/v1/accounts/{name}/suppressions
	// (suppressions.go); nil: no such routes.
	Suppressions *Suppressions
	// Inbound serves the MX's decisions, bans and recipient lists
	// (inbound.go); nil: no such routes.
	Inbound *Inbound
	// Health returns the parts of the node that fail, one line each
	// (internal/health): GET /healthz answers 503 with them, 200 "ok"
	// with none. nil: always "ok".
	Health func(ctx context.Context) []string
	// Webhooks serves /api/v1/webhooks and /api/v1/feed (webhooks.go);
	// nil: no such routes.
	Webhooks Webhooks
}

type server struct {
	cfg   Config
	log   *slog.Logger
	token [sha256.Size]byte
}

// New returns the API's handler.
func New(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &server{cfg: cfg, log: cfg.Logger, token: sha256.Sum256([]byte(cfg.Token))}
	mux := http.NewServeMux()

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if cfg.Health != nil {
			if failed := cfg.Health(r.Context()); len(failed) > 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, strings.Join(failed, "\n")+"\n")
				return
			}
		}
		io.WriteString(w, "ok\n")
	})
	if cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	}

	admin := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.adminOnly(h)) }
	admin("GET /api/v1/ips", s.listIPs)
	admin("POST /api/v1/ips/{address}/suspend", s.suspendIP)
	admin("POST /api/v1/ips/{address}/resume", s.resumeIP)
	admin("GET /api/v1/ips/{address}/replies", s.ipReplies) // replies.go

	admin("POST /api/v1/accounts", s.createAccount)
	admin("GET /api/v1/accounts", s.listAccounts)
	admin("GET /api/v1/accounts/{name}", s.getAccount)
	admin("PATCH /api/v1/accounts/{name}", s.patchAccount)
	admin("DELETE /api/v1/accounts/{name}", s.deleteAccount)
	admin("POST /api/v1/accounts/{name}/release", s.releaseAccount)
	admin("GET /api/v1/events", s.listEvents)

	admin("GET /api/v1/messages", s.listMessages)
	admin("GET /api/v1/messages/{id}", s.getMessage)
	admin("POST /api/v1/messages/{id}/retry", s.messageAction("retry", queue.Store.Retry))
	admin("POST /api/v1/messages/{id}/hold", s.messageAction("hold", queue.Store.Hold))
	admin("POST /api/v1/messages/{id}/release", s.messageAction("release", queue.Store.Release))
	admin("DELETE /api/v1/messages/{id}", s.deleteMessage)
	admin("GET /api/v1/queue/stats", s.queueStats)
	s.domainRoutes(admin)
	s.suppressionRoutes(admin) // suppressions.go
	s.inboundRoutes(admin)     // inbound.go
	s.webhookRoutes(admin)     // webhooks.go
	if cfg.Pprof {
		pprofRoutes(admin)
	}

	// The account authenticates itself here (HTTP Basic), not the admin.
	mux.HandleFunc(sendPattern, s.send)

	// Anything else under /api/ gets a JSON error rather than the mux's
	// text one: 405 with Allow for a known path, else 404 (methods.go).
	mux.Handle(catchAllPattern, s.noRoute(mux))
	return mux
}

// adminOnly enforces the admin token.
func (s *server) adminOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token == "" {
			writeError(w, http.StatusForbidden, "no admin token configured: set http.admin_token")
			return
		}
		// A request that presents a credential is an attempt the guard
		// counts (throttle.go); one without is merely refused.
		presented := r.Header.Get("Authorization") != ""
		if presented && s.throttled(w, r) {
			return
		}
		// The scheme is case-insensitive (RFC 7235 §2.1, RFC 6750 §2.1).
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		// Comparing digests keeps the comparison constant-time in the
		// token's length too.
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 {
			if presented {
				s.tokenFailed(r)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="sendpool"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong admin token")
			return
		}
		h(w, r)
	})
}

// StatusError is an error with the HTTP status it should answer.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string   { return e.Msg }
func (e *StatusError) StatusCode() int { return e.Code }

// Errorf returns a *StatusError.
func Errorf(code int, format string, args ...any) error {
	return &StatusError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, ErrorBody{Error: msg})
}

// fail answers err: the stores' sentinel errors and *StatusError map to their
// status; anything else is logged and answered 500 with a generic text.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var se interface{ StatusCode() int }
	switch {
	case errors.Is(err, queue.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such message")
	case errors.Is(err, account.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such account")
	case errors.Is(err, account.ErrExists):
		writeError(w, http.StatusConflict, "account already exists")
	case errors.Is(err, account.ErrDomainTaken):
		// The stores say which domain and whose: the admin asked.
		writeError(w, http.StatusConflict, strings.TrimPrefix(err.Error(), "account: "))
	case errors.As(err, &se):
		SetRetryAfter(w, err) // throttle.go
		writeError(w, se.StatusCode(), err.Error())
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		writeError(w, http.StatusServiceUnavailable, "request canceled")
	default:
		s.log.ErrorContext(r.Context(), "api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

// decodeJSON reads one JSON value from r's body into v, strictly (see
// decodeStrict), refusing bodies over maxJSONBody.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) error {
	err := decodeStrict(http.MaxBytesReader(w, r.Body, maxJSONBody), v, emptyOK)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return Errorf(http.StatusRequestEntityTooLarge, "body over %d bytes", maxJSONBody)
	}
	return err
}

// decodeStrict reads one JSON value into v: unknown fields and trailing data
// are refused (400). An empty body leaves v as it is when emptyOK. A
// *http.MaxBytesError from body is returned as it is.
func decodeStrict(body io.Reader, v any, emptyOK bool) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return err
		case errors.Is(err, io.EOF) && emptyOK:
			return nil
		case errors.Is(err, io.EOF):
			return Errorf(http.StatusBadRequest, "empty body: a JSON object is expected")
		}
		return Errorf(http.StatusBadRequest, "bad JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return Errorf(http.StatusBadRequest, "bad JSON: trailing data after the object")
	}
	return nil
}
