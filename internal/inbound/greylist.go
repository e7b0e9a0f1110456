package inbound

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// greyKey holds a triple's first sighting (unix seconds) or "pass".
const greyKey = "inbound:grey:"

// greylisted says whether the triple (origin × sender × rcpt) must wait:
// a first attempt is told 451 4.7.1 and remembered; a retry after
// GreylistDelay, within GreylistRetryWindow, passes, and the triple then
// passes for GreylistPassFor. origin is the SPF-validated domain when
// there is one, else the client's /24 (/64 for IPv6), so that a big
// sender retrying from another address of its pool passes on its first
// retry (RFC 6647 §4.2: the network, not the address).
func (s *Server) greylisted(ctx context.Context, origin, from, rcpt string) (wait bool, err error) {
	h := sha256.Sum256([]byte(strings.ToLower(origin + "\x00" + from + "\x00" + rcpt)))
	key := greyKey + base64.RawURLEncoding.EncodeToString(h[:16])
	now := s.cfg.Now()
	v, ok, err := s.cfg.State.Get(ctx, key)
	if err != nil {
		return false, err
	}
	if ok {
		if string(v) == "pass" {
			return false, nil
		}
		if first, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			if now.Sub(time.Unix(first, 0)) >= s.cfg.GreylistDelay {
				return false, s.cfg.State.Set(ctx, key, []byte("pass"), s.cfg.GreylistPassFor)
			}
			return true, nil
		}
	}
	return true, s.cfg.State.Set(ctx, key, []byte(strconv.FormatInt(now.Unix(), 10)), s.cfg.GreylistRetryWindow)
}

// origin is the greylisting key's first part: the SPF-validated domain,
// else the client's network.
func origin(spfPassDomain string, ip netip.Addr) string {
	if spfPassDomain != "" {
		return "spf:" + strings.ToLower(spfPassDomain)
	}
	bits := 24
	if ip.Unmap().Is6() {
		bits = 64
	}
	p, _ := ip.Unmap().Prefix(bits)
	return "net:" + p.String()
}

// greylists says whether greylisting applies to a client.
func (s *Server) greylists(c *client) bool {
	switch s.cfg.Greylist {
	case GreylistAll:
		return !c.allowed
	case GreylistSuspicious:
		return !c.allowed && s.suspicious(c.score)
	}
	return false
}
