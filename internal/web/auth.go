package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"sendpool/internal/api"
)

// sessionCookie holds "EXPIRY.MAC": MAC is an HMAC, under the session key,
// of the expiry and of the token's digest. The cookie never holds the token,
// and changing the token ends every session.
const sessionCookie = "sendpool_session"

// csrfField is the hidden field every POST form carries.
const csrfField = "csrf"

// maxForm bounds a form body: the panel's forms are a few short fields.
const maxForm = 64 << 10

func (s *server) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.cfg.SessionKey)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *server) sessionMAC(expiry string) string {
	return s.mac("session", expiry, string(s.token[:]))
}

// session returns the request's valid session cookie value, or "".
func (s *server) session(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	exp, mac, ok := strings.Cut(c.Value, ".")
	if !ok {
		return ""
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !s.cfg.Now().Before(time.Unix(unix, 0)) {
		return ""
	}
	if !hmac.Equal([]byte(mac), []byte(s.sessionMAC(exp))) {
		return ""
	}
	return c.Value
}

// csrf is the CSRF token of r's session: a MAC of the session, so a page
// of another site can neither read nor forge it. Without a session (the
// login form, or no token configured) it is a MAC of nothing, which such a
// page cannot read either.
func (s *server) csrf(r *http.Request) string {
	return s.mac("csrf", s.session(r))
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

// authed lets through a loopback client when no token is configured, else
// a client with a valid session; every POST needs the CSRF token too.
func (s *server) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case s.cfg.Token == "" && !fromLoopback(r):
			s.fail(w, r, http.StatusForbidden, "no admin token configured: the panel answers loopback clients only", nil)
			return
		case s.cfg.Token != "" && s.session(r) == "":
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			s.fail(w, r, http.StatusUnauthorized, "not logged in", nil)
			return
		}
		if r.Method == http.MethodPost && !s.checkCSRF(w, r) {
			s.fail(w, r, http.StatusForbidden, "missing or wrong CSRF token: reload the page and try again", nil)
			return
		}
		h(w, r)
	})
}

func (s *server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Token == "" || s.session(r) != "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", "Log in", "")
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if !s.checkCSRF(w, r) {
		s.fail(w, r, http.StatusForbidden, "missing or wrong CSRF token: reload the page and try again", nil)
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
	sum := sha256.Sum256([]byte(strings.TrimSpace(r.PostForm.Get("token"))))
	if subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 {
		if s.cfg.Guard != nil {
			s.cfg.Guard.Fail(r.Context(), client, "")
		}
		s.log.WarnContext(r.Context(), "web: login refused", "remote", r.RemoteAddr)
		s.render(w, r, http.StatusUnauthorized, "login", "Log in", "wrong admin token")
		return
	}
	until := s.cfg.Now().Add(s.cfg.SessionFor)
	exp := strconv.FormatInt(until.Unix(), 10)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: exp + "." + s.sessionMAC(exp), Path: "/",
		Expires: until, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	s.log.InfoContext(r.Context(), "web: logged in", "remote", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout clears the cookie. The session itself stays valid until it
// expires (sessions are stateless); change the token to end them all.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// fromLoopback reports whether the connection's peer is on loopback, as the
// API decides it.
func fromLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// localPath returns back if it is a path on this site, else def: a form's
// return address must not send the browser elsewhere.
func localPath(back, def string) string {
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") || strings.HasPrefix(back, "/\\") {
		return def
	}
	return back
}
