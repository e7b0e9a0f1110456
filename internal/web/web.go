// Package web is sendpool's control panel (SPEC §6): server-rendered pages
// over the same stores and interfaces the JSON API uses, served at / on the
// HTTP listener beside the API. html/template escapes everything shown; the
// pages need no JavaScript.
package web

import (
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
	"sendpool/internal/queue"
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
}

// Mount returns a handler serving the panel's routes and passing every
// other request to next (the API).
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
		checks: newCheckCache(checkCacheMax, checkFor)}
	if s.sessions == nil {
		s.sessions = &memorySessions{now: cfg.Now, m: map[string]time.Time{}}
	}
	if err := s.parse(); err != nil {
		return nil, err
	}
	static, _ := fs.Sub(staticFS, "static")

	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	page := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.authed(h)) }
	page("POST /logout", s.logout)
	if cfg.Domains != nil {
		page("GET /{$}", s.deliverability)
		page("POST /domains/{name}/check", s.checkNow)
	}
	page("GET /ips", s.ipsPage)
	page("POST /ips/{address}/{action}", s.ipAction)
	page("GET /ips/{address}/replies", s.ipRepliesPage)
	page("GET /queue", s.queuePage)
	page("GET /messages/{id}", s.messagePage)
	page("POST /messages/{id}/{action}", s.messageAction)
	page("GET /accounts", s.accountsPage)
	page("GET /accounts/{name}/suppressions", s.suppressionsPage)          // suppressions.go
	page("POST /accounts/{name}/suppressions/remove", s.removeSuppression) // suppressions.go
	if cfg.Inbound != nil {
		page("GET /inbound", s.inboundPage) // inbound.go
	}
	return mux, nil
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
	Data    any
}

// render writes page name with data.
func (s *server) render(w http.ResponseWriter, r *http.Request, code int, name, title string, data any) {
	v := view{Title: title, Nav: name, CSRF: s.csrf(r), Session: s.parseSession(r) != nil, Data: data}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// No framing (clickjacking) and no scripts or styles but our own.
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'")
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
