package api

import (
	"net/http"
	"strings"
)

// catchAllPattern is the route that answers every /api/ request no other
// route matches.
const catchAllPattern = "/api/"

// sendPattern is the one public /api/ route: it needs no admin token, so a
// wrong method on its path answers 405 to anyone, as the right one reaches
// the route without the token.
const sendPattern = "POST /api/v1/send"

// noRoute answers what mux's other routes do not: a known path with a
// method it does not serve gets 405 with Allow (RFC 9110 §15.5.6: "MUST
// generate an Allow header field"), anything else 404, both as
// {"error": "…"}. The catch-all route would otherwise hide the mux's own
// 405, since it matches every method.
//
// Authentication comes first, as on the routes themselves: on an admin
// path (or an unknown one) a request without a valid token gets the same
// 401 it got before, so a wrong method reveals no more than a right one.
// Only on a public path (/api/v1/send) does anyone see the 405.
func (s *server) noRoute(mux *http.ServeMux) http.Handler {
	notFound := s.adminOnly(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such route: "+r.Method+" "+r.URL.Path)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allow, public := allowed(mux, r)
		if len(allow) == 0 {
			notFound.ServeHTTP(w, r)
			return
		}
		h := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed,
				"method "+r.Method+" not allowed on "+r.URL.Path+"; allowed: "+strings.Join(allow, ", "))
		}
		if public {
			h(w, r)
			return
		}
		s.adminOnly(h).ServeHTTP(w, r)
	})
}

// allowed returns the methods mux routes r's path with elsewhere than the
// catch-all, and whether every such route is public.
func allowed(mux *http.ServeMux, r *http.Request) (methods []string, public bool) {
	public = true
	// GET patterns match HEAD too (net/http ServeMux), so HEAD is listed
	// wherever GET is. The mux cleans paths (redirecting) before any route
	// runs, so r's path is clean and a probe finds routes, not redirects.
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		_, pattern := mux.Handler(probe)
		if pattern == "" || pattern == catchAllPattern {
			continue
		}
		methods = append(methods, m)
		public = public && pattern == sendPattern
	}
	return methods, public && len(methods) > 0
}
