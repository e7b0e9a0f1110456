package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/intake"
)

// sessionCookie holds "EXPIRY.ID.SUBJECT.MAC": MAC is an HMAC, under the
// session key, of the rest and of the token's digest. The cookie never
// holds the token, and changing the token ends every session. ID names
// the session so that logging out can end it on the server (revoked in
// the shared state, so on every node). SUBJECT is "" for the admin, else
// the customer's account name in base64url.
const sessionCookie = "sendpool_session"

// csrfField is the hidden field every POST form carries.
const csrfField = "csrf"

// maxForm bounds a form body: the panel's forms are a few short fields.
const maxForm = 64 << 10

// revokedKey prefixes a logged-out session's ID in Sessions.
const revokedKey = "web:revoked:"

// SessionStore keeps which sessions were ended before their expiry;
// state.State satisfies it (shared by every node).
type SessionStore interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// session is a valid session cookie's content.
type session struct {
	value   string // the cookie's value, for the CSRF token
	id      string
	subject string // "" for the admin
	expires time.Time
}

func (s *server) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.cfg.SessionKey)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *server) sessionMAC(expiry, id, subject string) string {
	return s.mac("session", expiry, id, subject, string(s.token[:]))
}

// parseSession returns r's session cookie if its MAC holds and it has
// not expired; it does not ask whether it was revoked (active does).
func (s *server) parseSession(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 4 {
		return nil
	}
	exp, id, subj, mac := parts[0], parts[1], parts[2], parts[3]
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !s.cfg.Now().Before(time.Unix(unix, 0)) {
		return nil
	}
	if !hmac.Equal([]byte(mac), []byte(s.sessionMAC(exp, id, subj))) {
		return nil
	}
	// SUBJECT is base64url (an account's name may hold a dot).
	subject, err := base64.RawURLEncoding.DecodeString(subj)
	if err != nil {
		return nil
	}
	return &session{value: c.Value, id: id, subject: string(subject), expires: time.Unix(unix, 0)}
}

// active reports whether sess was not logged out. A store that cannot be
// asked counts as "logged out": the panel fails closed.
func (s *server) active(ctx context.Context, sess *session) bool {
	_, revoked, err := s.sessions.Get(ctx, revokedKey+sess.id)
	if err != nil {
		s.log.WarnContext(ctx, "web: cannot check the session", "err", err)
		return false
	}
	return !revoked
}

// csrf is the CSRF token of r's session: a MAC of the session, so a page
// of another site can neither read nor forge it. Without a session (the
// login form) it is a MAC of nothing, which such a page cannot read either.
func (s *server) csrf(r *http.Request) string {
	value := ""
	if sess := s.parseSession(r); sess != nil {
		value = sess.value
	}
	return s.mac("csrf", value)
}

// checkCSRF reports whether r's form carries the CSRF token. It parses the
// form, bounded.
func (s *server) checkCSRF(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return false
	}
	return hmac.Equal([]byte(r.PostForm.Get(csrfField)), []byte(s.csrf(r)))
}

// authed lets through a client with a live session, the admin's or (with
// customers true) a customer's whose account still exists and is not
// suspended; a customer on an admin page gets 403. Every POST needs the
// CSRF token too. Without a token configured nobody is let in.
func (s *server) authed(h http.HandlerFunc, customers bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token == "" {
			s.fail(w, r, http.StatusForbidden, "no admin token configured: set http.admin_token", nil)
			return
		}
		sess := s.parseSession(r)
		if sess == nil || !s.active(r.Context(), sess) || !s.customerActive(r, sess) {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			s.fail(w, r, http.StatusUnauthorized, "not logged in", nil)
			return
		}
		if sess.subject != "" && !customers {
			s.fail(w, r, http.StatusForbidden, "this page is the provider's", nil)
			return
		}
		if r.Method == http.MethodPost && !s.checkCSRF(w, r) {
			s.fail(w, r, http.StatusForbidden, "missing or wrong CSRF token: reload the page and try again", nil)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), subjectKey{}, sess.subject)))
	})
}

// subjectKey holds the session's subject in a request's context: "" for
// the admin, else the customer's account name.
type subjectKey struct{}

// customerOf returns the account name of r's customer session, "" for the
// admin's.
func customerOf(r *http.Request) string {
	name, _ := r.Context().Value(subjectKey{}).(string)
	return name
}

// customerActive reports whether a customer session's account may still
// use the panel: it exists and is not suspended (a suspension ends its
// sessions at once). The admin's session always may.
func (s *server) customerActive(r *http.Request, sess *session) bool {
	if sess.subject == "" {
		return true
	}
	a, err := s.cfg.Accounts.GetAccount(r.Context(), sess.subject)
	if err != nil {
		if !errors.Is(err, account.ErrNotFound) {
			s.log.WarnContext(r.Context(), "web: cannot read the session's account", "account", sess.subject, "err", err)
		}
		return false
	}
	return a.Status != account.StatusSuspended
}

func (s *server) loginPage(w http.ResponseWriter, r *http.Request) {
	if sess := s.parseSession(r); sess != nil && s.active(r.Context(), sess) && s.customerActive(r, sess) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", "Log in", "")
}

// login takes the form of SPEC §7: an empty account with the admin token
// as the password is the admin.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Token == "" {
		s.fail(w, r, http.StatusForbidden, "no admin token configured: set http.admin_token", nil)
		return
	}
	if !s.checkCSRF(w, r) {
		s.fail(w, r, http.StatusForbidden, "missing or wrong CSRF token: reload the page and try again", nil)
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("account"))
	if name != "" {
		s.customerLogin(w, r, name)
		return
	}
	// Past the guard's limits the token is not even compared.
	client := api.ClientAddr(r)
	if s.cfg.Guard != nil {
		if err := s.cfg.Guard.Check(r.Context(), client, ""); err != nil {
			s.log.WarnContext(r.Context(), "web: login throttled", "remote", r.RemoteAddr, "err", err)
			api.SetRetryAfter(w, err)
			s.render(w, r, http.StatusTooManyRequests, "login", "Log in", api.ThrottledText)
			return
		}
	}
	// Comparing digests keeps the comparison constant-time in the token's
	// length too.
	sum := sha256.Sum256([]byte(strings.TrimSpace(r.PostForm.Get("password"))))
	if subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 {
		if s.cfg.Guard != nil {
			s.cfg.Guard.Fail(r.Context(), client, "")
		}
		s.log.WarnContext(r.Context(), "web: login refused", "remote", r.RemoteAddr)
		s.render(w, r, http.StatusUnauthorized, "login", "Log in", "wrong account or password")
		return
	}
	s.startSession(w, r, "")
}

// customerLogin logs a customer in with its account's name and password,
// through the same throttle as SMTP AUTH: the guard is asked first, told
// of each wrong password and of each right one (authguard's trust).
// Unknown names, wrong passwords and suspended accounts get the same
// answer, as intake gives SMTP clients.
func (s *server) customerLogin(w http.ResponseWriter, r *http.Request, name string) {
	if s.cfg.Authenticate == nil {
		s.render(w, r, http.StatusUnauthorized, "login", "Log in", "wrong account or password")
		return
	}
	ctx := r.Context()
	client := api.ClientAddr(r)
	if s.cfg.Guard != nil {
		if err := s.cfg.Guard.Check(ctx, client, name); err != nil {
			s.log.WarnContext(ctx, "web: customer login throttled", "account", name, "remote", r.RemoteAddr, "err", err)
			api.SetRetryAfter(w, err)
			s.render(w, r, http.StatusTooManyRequests, "login", "Log in", api.ThrottledText)
			return
		}
	}
	a, err := s.cfg.Authenticate(ctx, name, r.PostForm.Get("password"))
	if err != nil {
		var ie *intake.Error
		if errors.As(err, &ie) && ie.Temporary() {
			s.log.ErrorContext(ctx, "web: customer login", "account", name, "err", err)
			s.render(w, r, http.StatusServiceUnavailable, "login", "Log in", "cannot check the password now: try again")
			return
		}
		if s.cfg.Guard != nil {
			s.cfg.Guard.Fail(ctx, client, name)
		}
		s.log.WarnContext(ctx, "web: customer login refused", "account", name, "remote", r.RemoteAddr, "err", err)
		s.render(w, r, http.StatusUnauthorized, "login", "Log in", "wrong account or password")
		return
	}
	if s.cfg.Guard != nil {
		s.cfg.Guard.Succeed(ctx, client, a.Name)
	}
	s.startSession(w, r, a.Name)
}

// startSession sets the session cookie of subject ("" for the admin) and
// goes to the panel's first page.
func (s *server) startSession(w http.ResponseWriter, r *http.Request, subject string) {
	until := s.cfg.Now().Add(s.cfg.SessionFor)
	exp := strconv.FormatInt(until.Unix(), 10)
	id := make([]byte, 16)
	rand.Read(id) // never fails (crypto/rand)
	sid := base64.RawURLEncoding.EncodeToString(id)
	subj := base64.RawURLEncoding.EncodeToString([]byte(subject))
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: exp + "." + sid + "." + subj + "." + s.sessionMAC(exp, sid, subj), Path: "/",
		Expires: until, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure(r),
	})
	s.log.InfoContext(r.Context(), "web: logged in", "remote", r.RemoteAddr, "account", subject)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session on the server too, on every node: a copied
// cookie is worth nothing after it.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	if sess := s.parseSession(r); sess != nil {
		if err := s.sessions.Set(r.Context(), revokedKey+sess.id, []byte("1"), sess.expires.Sub(s.cfg.Now())+time.Minute); err != nil {
			s.fail(w, r, http.StatusServiceUnavailable, "could not end the session now: try again", err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure(r)})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// secure reports whether the session cookie is sent over HTTPS only: the
// panel's public URL is https (behind a TLS proxy), or this request came
// over TLS.
func (s *server) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(s.cfg.PublicURL, "https://")
}

// memorySessions is the SessionStore of a panel not given one: this
// process's memory (tests, and a node whose state is memory anyway).
type memorySessions struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]time.Time // key → expiry
}

func (m *memorySessions) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.m[key]
	if !ok || m.now().After(exp) {
		delete(m.m, key)
		return nil, false, nil
	}
	return []byte("1"), true, nil
}

func (m *memorySessions) Set(_ context.Context, key string, _ []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, exp := range m.m { // a few logouts a day: a sweep costs nothing
		if m.now().After(exp) {
			delete(m.m, k)
		}
	}
	m.m[key] = m.now().Add(ttl)
	return nil
}

// localPath returns back if it is a path on this site, else def: a form's
// return address must not send the browser elsewhere.
func localPath(back, def string) string {
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") || strings.HasPrefix(back, "/\\") {
		return def
	}
	return back
}
