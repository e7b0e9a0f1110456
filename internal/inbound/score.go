package inbound

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"sendpool/internal/dns"
	"sendpool/internal/dnsbl"
	"sendpool/internal/dnsrec"
)

// score is a client's reputation as the lists and its DNS tell it.
type score struct {
	total  float64  // every weight that applies, the HELO's once known
	listed float64  // the positive weights of the blocklists listing it
	zones  []string // those blocklists, heaviest first
	wl     bool     // on a DNSWL (a list of negative weight)
	// fcrdns is the client's forward-confirmed reverse name; fcrdnsFailed
	// is set when it has none (a DNS failure counts as neither).
	fcrdns       string
	fcrdnsFailed bool
	heloBad      bool
}

// errZone is a list's answer that is its own error, not a listing.
var errZone = errors.New("zone error")

// lookupScore asks every list at once, and the client's reverse name.
func (s *Server) lookupScore(ctx context.Context, ip netip.Addr) *score {
	sc := &score{}
	type hit struct {
		l      List
		listed bool
	}
	hits := make([]hit, len(s.cfg.Lists))
	var wg sync.WaitGroup
	for i, l := range s.cfg.Lists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			listed, err := s.listed(ctx, l, ip)
			if err != nil {
				if errors.Is(err, errZone) && s.cfg.OnZoneError != nil {
					s.cfg.OnZoneError(l.Zone)
				}
				// Never a refusal: a list that fails or answers its own
				// error tells nothing (Spamhaus' error codes made
				// servers that took them for listings refuse all mail).
				s.log.Warn("inbound: DNSBL answer ignored", "zone", l.Zone, "client_ip", ip.String(), "err", err)
				return
			}
			hits[i] = hit{l, listed}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc.fcrdns, sc.fcrdnsFailed = s.fcrdns(ctx, ip)
	}()
	wg.Wait()
	for _, h := range hits {
		if !h.listed {
			continue
		}
		sc.total += h.l.Weight
		if h.l.Weight > 0 {
			sc.listed += h.l.Weight
			sc.zones = append(sc.zones, h.l.Zone)
		} else {
			sc.wl = true
		}
	}
	slices.SortStableFunc(sc.zones, func(a, b string) int { return strings.Compare(a, b) })
	if sc.fcrdnsFailed {
		sc.total += s.cfg.FCrDNSWeight
	}
	return sc
}

// listed looks ip up on l and checks the answer's codes (RFC 5782 §2.3:
// the list defines them): an answer in 127.255.255.0/24, or one not among
// l.Codes, is errZone.
func (s *Server) listed(ctx context.Context, l List, ip netip.Addr) (bool, error) {
	res, err := dnsbl.Lookup(ctx, s.cfg.Resolver, l.Zone, ip)
	if errors.Is(err, dnsbl.ErrRefused) {
		return false, errors.Join(errZone, err)
	}
	if err != nil {
		return false, err
	}
	if !res.Listed {
		return false, nil
	}
	errNet := netip.MustParsePrefix("127.255.255.0/24")
	for _, code := range res.Codes {
		if errNet.Contains(code) || len(l.Codes) > 0 && !slices.Contains(l.Codes, code) {
			return false, errors.Join(errZone, errors.New("answered "+code.String()))
		}
	}
	return true, nil
}

// fcrdns returns the client's forward-confirmed reverse name: a PTR name
// whose addresses include ip. failed: no such name (a lookup that failed
// for a while is not held against it).
func (s *Server) fcrdns(ctx context.Context, ip netip.Addr) (name string, failed bool) {
	p, ok := s.cfg.Resolver.(dnsrec.PTRResolver)
	if !ok {
		return "", false
	}
	names, err := p.LookupPTR(ctx, ip)
	if err != nil {
		return "", dns.IsNotFound(err)
	}
	for i, n := range names {
		if i == 5 {
			break // bound the work one client can ask for
		}
		addrs, err := s.cfg.Resolver.LookupIP(ctx, n)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if a.Unmap() == ip.Unmap() {
				return strings.ToLower(strings.TrimSuffix(n, ".")), false
			}
		}
	}
	return "", true
}

// heloBad reports whether a HELO name is one no honest MTA says: not a
// domain nor an address literal, a literal not the client's, or our own
// name.
func (s *Server) heloBad(helo string, ip netip.Addr) bool {
	h := strings.ToLower(strings.TrimSuffix(helo, "."))
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		lit := strings.TrimPrefix(h[1:len(h)-1], "ipv6:")
		a, err := netip.ParseAddr(lit)
		return err != nil || a.Unmap() != ip.Unmap()
	}
	if h == strings.ToLower(s.cfg.Hostname) || !strings.Contains(h, ".") {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return true
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return true
			}
		}
	}
	return false
}

// suspicious says whether greylisting applies to a client in the
// "suspicious" mode: on no DNSWL, and without a confirmed reverse name or
// scoring over half the threshold.
func (s *Server) suspicious(sc *score) bool {
	if sc == nil || sc.wl {
		return false
	}
	return sc.fcrdnsFailed || sc.total > s.cfg.Threshold/2
}
