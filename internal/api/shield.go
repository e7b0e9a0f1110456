package api

import (
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// ShieldConfig says which requests the HTTP listener (API and panel)
// answers at all.
type ShieldConfig struct {
	// AllowedHosts are the Host names answered (http.allowed_hosts);
	// empty: Listen's host, localhost, 127.0.0.1 and ::1, PublicURL's
	// host, and, when Listen is a wildcard address, the machine's own
	// addresses.
	AllowedHosts []string
	Listen       string // http.listen
	PublicURL    string // http.public_url
}

// Shield refuses, before any route sees it, what a browser would send on a
// hostile page's behalf: a Host that is not ours (421 Misdirected Request:
// DNS rebinding points an attacker's name at us), a request whose Origin is
// another site's (403: cross-site request forgery; a form or fetch() from
// any page the admin opens would otherwise reach the API), and an API body
// that is not JSON (415: a cross-site form can send text/plain or a
// urlencoded body without a CORS preflight, never application/json).
// /healthz stays open to load balancers, which probe by address.
func Shield(next http.Handler, cfg ShieldConfig) http.Handler {
	hosts := allowedHosts(cfg)
	publicOrigin := ""
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Host != "" {
		publicOrigin = strings.ToLower(u.Scheme + "://" + u.Host)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		host := hostOnly(r.Host)
		if !hosts[host] {
			writeError(w, http.StatusMisdirectedRequest, "host "+r.Host+" is not one this server answers to (http.allowed_hosts)")
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(origin, r, publicOrigin) {
			writeError(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		// Sec-Fetch-Site (Fetch Metadata) is set by browsers, never by
		// scripts: a cross-site request says so even where Origin is left
		// out.
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			writeError(w, http.StatusForbidden, "cross-site request refused")
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/") && hasBody(r) && !isJSON(r.Header.Get("Content-Type")) {
			writeError(w, http.StatusUnsupportedMediaType, "request body must be JSON (Content-Type: application/json)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowedHosts is the set of host names (lower case, no port) answered.
func allowedHosts(cfg ShieldConfig) map[string]bool {
	set := map[string]bool{}
	add := func(h string) { set[strings.ToLower(strings.Trim(h, "[]"))] = true }
	for _, h := range cfg.AllowedHosts {
		add(hostOnly(h))
	}
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Host != "" {
		add(u.Hostname())
	}
	if len(cfg.AllowedHosts) > 0 {
		return set
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		add(h)
	}
	listen, _, _ := net.SplitHostPort(cfg.Listen)
	if a, err := netip.ParseAddr(listen); listen == "" || (err == nil && a.IsUnspecified()) {
		// Every address of this machine: clients that connect by address.
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if p, err := netip.ParsePrefix(a.String()); err == nil {
					add(p.Addr().String())
				}
			}
		}
	} else {
		add(listen)
	}
	return set
}

// hostOnly is hostport's host, lower case, without brackets.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		hostport = h
	}
	return strings.ToLower(strings.Trim(hostport, "[]"))
}

// sameOrigin reports whether origin (RFC 6454 serialisation) is the
// request's own (scheme and Host it was sent to, the Host being checked
// already) or the public URL's.
func sameOrigin(origin string, r *http.Request, public string) bool {
	origin = strings.ToLower(origin)
	if public != "" && origin == public {
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return origin == scheme+"://"+strings.ToLower(r.Host)
}

func hasBody(r *http.Request) bool {
	return r.ContentLength > 0 || (r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody)
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}
