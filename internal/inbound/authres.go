package inbound

import (
	"bytes"
	"context"
	"net/netip"
	"strings"

	"sendpool/internal/dkim"
	"sendpool/internal/dnsrec"
	"sendpool/internal/domain"
)

// auth is what SPF, DKIM and DMARC said of one message.
type auth struct {
	spf       dnsrec.SPFResult
	spfDomain string // the MAIL FROM domain, or the HELO name for <>
	spfHELO   bool   // spfDomain is the HELO name
	dkim      []dkim.Verification
	from      string // the From: domain
	dmarc     dnsrec.DMARCOutcome
}

// spfPassDomain is the SPF-validated domain, "" if SPF did not pass.
func (a *auth) spfPassDomain() string {
	if a.spf == dnsrec.SPFPass {
		return a.spfDomain
	}
	return ""
}

// checkSPF evaluates SPF for the transaction (RFC 7208 §2.4: the HELO
// identity for the null sender).
func (s *Server) checkSPF(ctx context.Context, ip netip.Addr, helo, from string) auth {
	res, err := dnsrec.CheckSPF(ctx, s.cfg.Resolver, ip, helo, from)
	a := auth{spf: res}
	if _, d, ok := strings.Cut(from, "@"); ok && from != "" {
		a.spfDomain = strings.ToLower(d)
	} else {
		a.spfDomain, a.spfHELO = strings.ToLower(helo), true
	}
	if err != nil {
		s.log.Debug("inbound: SPF", "client_ip", ip.String(), "from", from, "result", res, "err", err)
	}
	return a
}

// checkMessage verifies the DKIM signatures of msg and evaluates DMARC
// (RFC 7489 §4.2) with the SPF result a already holds.
func (s *Server) checkMessage(ctx context.Context, a *auth, msg []byte) {
	vs, err := dkim.Verify(ctx, s.cfg.Resolver, msg)
	if err != nil {
		s.log.Debug("inbound: DKIM", "err", err)
	}
	a.dkim = vs
	a.from = dkim.FromDomain(msg)
	if a.from == "" {
		return
	}
	a.dmarc = dnsrec.EvaluateDMARC(ctx, s.cfg.Resolver, dnsrec.DMARCInput{
		FromDomain: a.from, SPF: a.spf, SPFDomain: a.spfDomain, DKIM: vs})
}

// field is the Authentication-Results header field (RFC 8601 §2.2) for a,
// under authserv-id id, folded and CRLF-terminated.
func (a *auth) field(id string) string {
	var b strings.Builder
	b.WriteString("Authentication-Results: " + id)
	res := func(s string) { b.WriteString(";\r\n\t" + s) }
	spf := "spf=" + string(a.spf)
	if a.spf == "" {
		spf = "spf=none"
	}
	if a.spfHELO {
		spf += " smtp.helo=" + a.spfDomain
	} else {
		spf += " smtp.mailfrom=" + a.spfDomain
	}
	res(spf)
	if len(a.dkim) == 0 {
		res("dkim=none")
	}
	for _, v := range a.dkim {
		// §2.7.1: header.d and header.s name the signature; header.a its
		// algorithm.
		r := "dkim=" + string(v.Result) + " header.d=" + v.Domain
		if v.Selector != "" {
			r += " header.s=" + v.Selector
		}
		if v.Algorithm != "" {
			r += " header.a=" + v.Algorithm
		}
		res(r)
	}
	if a.from != "" {
		d := "dmarc=" + a.dmarc.Result
		if a.dmarc.Policy != "" {
			d += " (p=" + string(a.dmarc.Policy) + ")"
		}
		res(d + " header.from=" + a.from)
	} else {
		res("dmarc=none")
	}
	b.WriteString("\r\n")
	return b.String()
}

// stripOurs removes from msg the fields only we may write: every
// Authentication-Results field that claims our authserv-id (RFC 8601 §5:
// a forged one would be trusted downstream as ours), and X-Spam-Flag and
// X-Spam-Score (the mailbox host's filters act on ours). Other servers'
// Authentication-Results stay.
func stripOurs(msg []byte, id string) []byte {
	var out []byte
	pos, drop := 0, false
	for pos < len(msg) {
		end := bytes.IndexByte(msg[pos:], '\n')
		next := len(msg)
		if end >= 0 {
			next = pos + end + 1
		}
		line := msg[pos:next]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			if out == nil {
				return msg // nothing removed
			}
			return append(out, msg[pos:]...)
		}
		cont := line[0] == ' ' || line[0] == '\t'
		if !cont {
			drop = false
			if name, value, ok := bytes.Cut(line, []byte(":")); ok && ours(string(name), msg[pos+len(name)+1:], value, id) {
				drop = true
				if out == nil {
					out = append(make([]byte, 0, len(msg)), msg[:pos]...)
				}
			}
		}
		if out != nil && !drop {
			out = append(out, line...)
		}
		pos = next
	}
	if out == nil {
		return msg
	}
	return out
}

// ours reports whether a field (its name, the message from its value on,
// its first line's value) is one stripOurs removes.
func ours(name string, rest, first []byte, id string) bool {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "authentication-results":
		return authservID(rest, first) == strings.ToLower(id)
	case "x-spam-flag", "x-spam-score":
		return true
	}
	return false
}

// authservID is the lower-cased authserv-id of an Authentication-Results
// field (RFC 8601 §2.2: the value up to the first ';', a version may
// follow it, comments aside). rest is the value with its continuation
// lines, first the value's first line.
func authservID(rest, first []byte) string {
	v := rest
	if i := bytes.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	} else {
		v = first
	}
	s := string(v)
	for {
		i := strings.IndexByte(s, '(')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], ')')
		if j < 0 {
			s = s[:i]
			break
		}
		s = s[:i] + " " + s[i+j+1:]
	}
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return strings.ToLower(f[0])
}

// override is inbound.dmarc_override: known forwarders whose DMARC
// failures are not enforced.
type override struct {
	nets    []netip.Prefix
	domains []string
}

func newOverride(list []string) override {
	var o override
	for _, x := range list {
		if p, err := netip.ParsePrefix(x); err == nil {
			o.nets = append(o.nets, p.Masked())
		} else if a, err := netip.ParseAddr(x); err == nil {
			o.nets = append(o.nets, netip.PrefixFrom(a, a.BitLen()))
		} else {
			o.domains = append(o.domains, strings.ToLower(strings.TrimSuffix(x, ".")))
		}
	}
	return o
}

// covers reports whether the client is a known forwarder: by address, or
// by a name it proved (its forward-confirmed reverse name, a domain SPF
// or DKIM validated).
func (o override) covers(ip netip.Addr, names ...string) bool {
	if inAny(ip, o.nets) {
		return true
	}
	for _, n := range names {
		if n == "" {
			continue
		}
		for _, d := range o.domains {
			if n == d || strings.HasSuffix(n, "."+d) || domain.OrgDomain(n) == d {
				return true
			}
		}
	}
	return false
}
