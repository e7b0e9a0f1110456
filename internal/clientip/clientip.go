// Package clientip finds an HTTP request's real client behind reverse
// proxies and load balancers: the address in X-Forwarded-For that the
// nearest trusted proxy vouches for. The API's throttle, /api/v1/send (its
// Received header and intake's client IP) and the panel's login all ask
// it, through api.ClientAddr.
//
// Only a trusted proxy's word is taken: the header is read when the TCP
// peer is a trusted proxy, from the right (each proxy appends the address
// it got the request from), skipping the trusted proxies themselves; the
// first address that is not one is the client. Anything left of it was
// written by the client or by proxies nobody vouches for, and is ignored,
// so a client cannot pose as another by sending the header itself.
package clientip

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
)

type ctxKey struct{}

// Handler records each request's client (Forwarded) for From, then calls
// next. With no trusted proxies it records the TCP peer.
func Handler(trusted []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := Forwarded(peer(r), r.Header.Values("X-Forwarded-For"), trusted)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, client)))
	})
}

// From returns r's client as Handler found it; without Handler, the TCP
// peer.
func From(r *http.Request) netip.Addr {
	if a, ok := r.Context().Value(ctxKey{}).(netip.Addr); ok {
		return a
	}
	return peer(r)
}

// Forwarded is the client of a request from peer carrying the given
// X-Forwarded-For field values: peer itself unless it is trusted; else the
// right-most address of the fields that is not a trusted proxy. When every
// address is a trusted proxy, the left-most is the client (a request from
// inside the proxies' own network). An entry that is no IP address (an
// obfuscated "unknown", RFC 7239 §6.3, or garbage) ends the walk: the
// trusted proxy that wrote it is taken for the client, never an address
// left of it.
func Forwarded(peer netip.Addr, xff []string, trusted []netip.Prefix) netip.Addr {
	client := peer
	if !contains(trusted, client) {
		return client
	}
	for i := len(xff) - 1; i >= 0; i-- {
		hops := strings.Split(xff[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, ok := parseHop(hops[j])
			if !ok {
				return client
			}
			client = a
			if !contains(trusted, client) {
				return client
			}
		}
	}
	return client
}

// parseHop parses one X-Forwarded-For entry: an address, with a port as
// some proxies write it ("192.0.2.1:4711", "[2001:db8::1]:4711").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.WithZone("").Unmap(), true
}

func contains(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peer is r's TCP peer.
func peer(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
