// Package web is sendpool's control panel (SPEC §6): server-rendered pages
// over the same stores and interfaces the JSON API uses, served at / on the
// HTTP listener beside the API. html/template escapes everything shown; the
// pages need no JavaScript.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/limit"
	"sendpool/internal/queue"
	"sendpool/internal/stats"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config holds the panel's dependencies.
type Config struct {
	Queue    queue.Store
	Accounts account.Store
	IPs      api.IPSource // nil: no IPs listed; suspend/resume when it is an api.IPAdmin
	Domains  *api.Domains // nil (tests of other pages only): no deliverability page
	// Replies are the IPs' recent replies; nil: the IP pool page shows none.
	Replies api.ReplySource
	// Token is the admin token; empty: the panel lets nobody in.
	Token string
	// PublicURL is http.public_url: an https one makes the session cookie
	// Secure.
	PublicURL string
	// Sessions keeps logged-out sessions (the shared state, so that a
	// logout holds on every node); nil: this process's memory.
	Sessions SessionStore
	// SessionKey signs session and CSRF tokens; nil: derived from Token, so
	// that a login holds on every node behind one load balancer and across
	// restarts (and changing the token ends every session).
	SessionKey []byte
	// SessionFor is how long a login lasts; 0: 12 hours.
	SessionFor time.Duration
	Logger     *slog.Logger     // nil: discard
	Now        func() time.Time // nil: time.Now
	// Guard throttles admin-token guessing at login (internal/authguard);
	// nil: none.
	Guard api.AuthGuard
	// Suppressions are the accounts' suppression lists (suppressions.go);
	// nil: their pages say the lists are not available.
	Suppressions api.SuppressionList
	// Authenticate checks a customer's account name and password
	// (intake.Service.Authenticate: a suspended account fails); nil: only
	// the admin logs in.
	Authenticate func(ctx context.Context, name, password string) (*account.Account, error)
	// Usage is an account's use of its volume limits (limit.Limiter.Usage);
	// nil: the usage page shows the limits alone.
	Usage func(ctx context.Context, a *account.Account) ([]limit.Use, error)
	// Stats reads the counts behind the pictures (internal/stats); nil:
	// no pictures.
	Stats *stats.Reader
	// Inbound is the MX's decisions and bans (inbound.go); nil: no page.
	Inbound InboundSource
}

type server struct {
	cfg      Config
	log      *slog.Logger
	token    [sha256.Size]byte
	sessions SessionStore
	pages    map[string]*template.Template
	// checks keeps the deliverability page's DNS checks (checkcache.go).
	checks *checkCache
	// api is the JSON API the admin's forms go through (forms.go).
	api http.Handler
}

// panel is the handler Mount returns: the mux, and its patterns with who
// may use each (the route-walking test lists them).
type panel struct {
	http.Handler
	routes []route
}

// route is one registered pattern; Customers: a customer session may use
// it (its handler scopes what it shows to the customer's account).
type route struct {
	Pattern   string
	Customers bool
}

// Mount returns a handler serving the panel's routes and passing every
// other request to next (the API). The admin's forms that the API also
// serves (accounts, limits, domains) go through next, so both check and
// do the same (forms.go).
func Mount(cfg Config, next http.Handler) (http.Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionFor <= 0 {
		cfg.SessionFor = 12 * time.Hour
	}
	if len(cfg.SessionKey) == 0 && cfg.Token != "" {
		m := hmac.New(sha256.New, []byte(cfg.Token))
		m.Write([]byte("sendpool panel session key v1"))
		cfg.SessionKey = m.Sum(nil)
	}
	if len(cfg.SessionKey) == 0 {
		cfg.SessionKey = make([]byte, 32)
		rand.Read(cfg.SessionKey) // never fails (crypto/rand)
	}
	s := &server{cfg: cfg, log: cfg.Logger, token: sha256.Sum256([]byte(cfg.Token)), sessions: cfg.Sessions,
		checks: newCheckCache(checkCacheMax, checkFor), api: next}
	if s.sessions == nil {
		s.sessions = &memorySessions{now: cfg.Now, m: map[string]time.Time{}}
	}
	if err := s.parse(); err != nil {
		return nil, err
	}
	static, _ := fs.Sub(staticFS, "static")

	mux := http.NewServeMux()
	p := &panel{Handler: mux}
	mux.Handle("/", next)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	reg := func(pattern string, h http.HandlerFunc, customers bool) {
		mux.Handle(pattern, s.authed(h, customers))
		p.routes = append(p.routes, route{Pattern: pattern, Customers: customers})
	}
	admin := func(pattern string, h http.HandlerFunc) { reg(pattern, h, false) }
	// Pages a customer may open too: each shows only the customer's own
	// (scoped in the store query, or checked before rendering: another
	// account's object is 404, as if it did not exist).
	anyone := func(pattern string, h http.HandlerFunc) { reg(pattern, h, true) }
	anyone("POST /logout", s.logout)
	if cfg.Domains != nil {
		anyone("GET /{$}", s.deliverability)
		anyone("POST /domains/{name}/check", s.checkNow)
		admin("POST /domains", s.addDomainForm)                  // forms.go
		admin("POST /domains/{name}/delete", s.deleteDomainForm) // forms.go
	}
	anyone("GET /messages/{id}", s.messagePage)
	anyone("GET /log", s.logPage)                              // customer.go
	anyone("GET /usage", s.usagePage)                          // customer.go
	anyone("GET /suppressions", s.mySuppressionsPage)          // customer.go
	anyone("POST /suppressions/remove", s.removeMySuppression) // customer.go
	admin("GET /ips", s.ipsPage)
	admin("POST /ips/{address}/{action}", s.ipAction)
	admin("GET /ips/{address}/replies", s.ipRepliesPage)
	admin("GET /queue", s.queuePage)
	admin("POST /messages/{id}/{action}", s.messageAction)
	admin("GET /accounts", s.accountsPage)
	admin("POST /accounts", s.addAccountForm)                               // forms.go
	admin("POST /accounts/{name}/{action}", s.accountForm)                  // forms.go
	admin("GET /accounts/{name}/suppressions", s.suppressionsPage)          // suppressions.go
	admin("POST /accounts/{name}/suppressions/remove", s.removeSuppression) // suppressions.go
	if cfg.Inbound != nil {
		admin("GET /inbound", s.inboundPage) // inbound.go
	}
	return p, nil
}

// funcs are the templates' helpers.
func funcs() template.FuncMap {
	return template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05Z")
		},
		"whenp": func(t *time.Time) string {
			if t == nil || t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05Z")
		},
		"dur": func(d time.Duration) string { return d.Round(time.Millisecond).String() },
		"limit": func(n int) string {
			if n == 0 {
				return "∞"
			}
			return fmt.Sprint(n)
		},
		"join": strings.Join,
		// zone is a record's value as a zone file needs it: a TXT value in
		// quoted strings of at most 255 bytes (RFC 1035 §3.3.14, RFC 7208
		// §3.3), a CNAME's target with its final dot.
		"zone":    zoneValue,
		"percent": func(n, of int) string { return percent(n, of) },
		"window": func(d time.Duration) string {
			switch d {
			case time.Minute:
				return "minute"
			case time.Hour:
				return "hour"
			case 24 * time.Hour:
				return "day"
			}
			return d.String()
		},
		"acts": func(csrf, back, id string) actions {
			return actions{CSRF: csrf, Back: back, ID: id, Names: []string{"retry", "hold", "release", "delete"}}
		},
	}
}

// actions are a message's buttons.
type actions struct {
	CSRF, Back, ID string
	Names          []string
}

// parse builds one template set per page: the layout plus the page.
func (s *server) parse() error {
	s.pages = map[string]*template.Template{}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs()).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("web: template %s: %w", n, err)
		}
		s.pages[base] = t
	}
	return nil
}

// view is what every page's template gets.
type view struct {
	Title   string
	Nav     string // the active menu entry
	CSRF    string
	Session bool // a login session exists (a logout button is shown)
	// Customer is the account of a customer's session, "" for the admin
	// (and before login): the menu is the customer's.
	Customer string
	Data     any
}

// render writes page name with data.
func (s *server) render(w http.ResponseWriter, r *http.Request, code int, name, title string, data any) {
	sess := s.parseSession(r)
	v := view{Title: title, Nav: name, CSRF: s.csrf(r), Session: sess != nil, Data: data}
	if sess != nil {
		v.Customer = sess.subject
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// No framing (clickjacking) and no scripts or styles but our own
	// files (static/copy.js: the records' copy buttons; nothing inline).
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy",
		"default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := s.pages[name].ExecuteTemplate(w, "layout", v); err != nil {
		s.log.ErrorContext(r.Context(), "web: render", "page", name, "err", err)
	}
}

// fail shows an error page: the status, and a short text safe to show.
func (s *server) fail(w http.ResponseWriter, r *http.Request, code int, msg string, err error) {
	if err != nil {
		s.log.ErrorContext(r.Context(), "web: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	s.render(w, r, code, "error", http.StatusText(code), msg)
}
