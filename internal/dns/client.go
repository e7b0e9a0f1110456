package dns

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// Defaults of Options.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMaxTTL      = 5 * time.Minute
	DefaultNegativeTTL = 30 * time.Second
	// DefaultCacheEntries bounds the default in-process cache.
	DefaultCacheEntries = 10000
)

// Options tune a Client. Zero values take the defaults.
type Options struct {
	// Timeout bounds one server's answer to one question, UDP and a TCP
	// retry together; the next server is tried after it.
	Timeout time.Duration
	// MaxTTL caps how long any answer is cached.
	MaxTTL time.Duration
	// NegativeTTL is how long NXDOMAIN and NODATA answers are cached, less
	// if the zone's SOA says so.
	NegativeTTL time.Duration
	// Now is the clock of the cache (tests); time.Now if nil.
	Now func() time.Time
	// Cache stores answers; a MemoryCache of DefaultCacheEntries if nil.
	Cache Cache
	// DNSSEC marks the servers as validating resolvers whose AD bit is
	// trusted (dns.dnssec_resolver): queries ask for DNSSEC, and the
	// secure lookups (secure.go) say what was validated. Its answers are
	// cached apart from a plain Client's in a shared Cache.
	DNSSEC bool
}

// Client is a stub resolver: it asks the configured recursive servers in
// order, caches their answers by TTL, and implements Resolver.
type Client struct {
	servers []string // host:port
	timeout time.Duration
	maxTTL  time.Duration
	negTTL  time.Duration
	now     func() time.Time
	cache   Cache
	dnssec  bool
	// keyPrefix keeps a validating Client's cached answers (AD bit
	// included) apart from a plain one's in a shared cache.
	keyPrefix string
}

var _ Resolver = (*Client)(nil)

// New returns a Client asking servers ("host" or "host:port", port 53 by
// default), or those of /etc/resolv.conf when there are none.
func New(servers []string, opts Options) (*Client, error) {
	if len(servers) == 0 {
		conf, err := mdns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("dns: no servers configured: %w", err)
		}
		for _, s := range conf.Servers {
			servers = append(servers, net.JoinHostPort(s, conf.Port))
		}
		if len(servers) == 0 {
			return nil, fmt.Errorf("dns: no servers configured, none in /etc/resolv.conf")
		}
	}
	c := &Client{
		timeout: cmp.Or(opts.Timeout, DefaultTimeout),
		maxTTL:  cmp.Or(opts.MaxTTL, DefaultMaxTTL),
		negTTL:  cmp.Or(opts.NegativeTTL, DefaultNegativeTTL),
		now:     opts.Now,
		cache:   opts.Cache,
		dnssec:  opts.DNSSEC,
	}
	if c.dnssec {
		c.keyPrefix = "dnssec:"
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.cache == nil {
		c.cache = NewMemoryCache(DefaultCacheEntries, c.now)
	}
	for _, s := range servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			if _, err := netip.ParseAddr(s); err != nil {
				return nil, fmt.Errorf("dns: server %q: want host or host:port", s)
			}
			s = net.JoinHostPort(s, "53")
		}
		c.servers = append(c.servers, s)
	}
	return c, nil
}

// LookupMX returns domain's mail exchangers by preference, ties by name.
// Following RFC 5321 §5.1, a domain without MX records but with an address
// is its own exchanger; RFC 7505's null MX gives ErrNullMX. A domain that
// does not exist, or has neither MX nor address, is a permanent *Error.
func (c *Client) LookupMX(ctx context.Context, domain string) ([]MX, error) {
	mxs, _, err := c.lookupMX(ctx, domain)
	return mxs, err
}

// lookupMX is LookupMX, also saying whether the answers were secure.
func (c *Client) lookupMX(ctx context.Context, domain string) ([]MX, bool, error) {
	fqdn, err := checkName(domain)
	if err != nil {
		return nil, false, err
	}
	rrs, secure, err := c.recordsAD(ctx, domain, fqdn, mdns.TypeMX)
	if err != nil {
		return nil, false, err
	}
	if len(rrs) == 0 {
		// NODATA: the implicit MX, if the domain has an address.
		_, ipSecure, err := c.lookupIP(ctx, domain)
		if err != nil {
			if IsNotFound(err) {
				return nil, false, &Error{Name: domain, Permanent: true, NotFound: true, Msg: "no MX or address records"}
			}
			return nil, false, err
		}
		return []MX{{Host: hostName(fqdn), Pref: 0}}, secure && ipSecure, nil
	}
	var mxs []MX
	for _, rr := range rrs {
		mx := rr.(*mdns.MX)
		// RFC 7505 §3: "." is no host. Alone it is a null MX; next to real
		// exchangers (a misconfiguration the RFC forbids) it is skipped.
		if mx.Mx == "." {
			continue
		}
		mxs = append(mxs, MX{Host: hostName(mx.Mx), Pref: mx.Preference})
	}
	if len(mxs) == 0 {
		return nil, false, ErrNullMX
	}
	slices.SortFunc(mxs, func(a, b MX) int {
		return cmp.Or(cmp.Compare(a.Pref, b.Pref), strings.Compare(a.Host, b.Host))
	})
	return slices.CompactFunc(mxs, func(a, b MX) bool { return a == b }), secure, nil
}

// LookupIP returns host's IPv4 addresses, then its IPv6 ones. A host with
// neither is a permanent *Error with NotFound set. If one family fails
// temporarily but the other answers, the answer is returned.
func (c *Client) LookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, _, err := c.lookupIP(ctx, host)
	return addrs, err
}

// lookupIP is LookupIP, also saying whether the answers it used were
// secure.
func (c *Client) lookupIP(ctx context.Context, host string) ([]netip.Addr, bool, error) {
	fqdn, err := checkName(host)
	if err != nil {
		return nil, false, err
	}
	a, secA, errA := c.recordsAD(ctx, host, fqdn, mdns.TypeA)
	if errA != nil && IsNotFound(errA) {
		return nil, false, errA // NXDOMAIN: AAAA cannot exist either
	}
	aaaa, secAAAA, errAAAA := c.recordsAD(ctx, host, fqdn, mdns.TypeAAAA)
	var addrs []netip.Addr
	for _, rr := range a {
		if ip, ok := netip.AddrFromSlice(rr.(*mdns.A).A); ok {
			addrs = append(addrs, ip.Unmap())
		}
	}
	for _, rr := range aaaa {
		if ip, ok := netip.AddrFromSlice(rr.(*mdns.AAAA).AAAA); ok {
			addrs = append(addrs, ip)
		}
	}
	// Secure when every family that answered was (a failed one gave no
	// address to trust).
	secure := (errA != nil || secA) && (errAAAA != nil || secAAAA) && (errA == nil || errAAAA == nil)
	switch {
	case len(addrs) > 0:
		return addrs, secure, nil
	case errA != nil:
		return nil, false, errA
	case errAAAA != nil:
		return nil, false, errAAAA
	}
	return nil, false, &Error{Name: host, Permanent: true, NotFound: true, Msg: "no address records"}
}

// LookupTXT returns name's TXT records, each one's character-strings
// joined (RFC 7208 §3.3). No TXT record is a permanent *Error with
// NotFound set.
func (c *Client) LookupTXT(ctx context.Context, name string) ([]string, error) {
	fqdn, err := checkName(name)
	if err != nil {
		return nil, err
	}
	rrs, err := c.records(ctx, name, fqdn, mdns.TypeTXT)
	if err != nil {
		return nil, err
	}
	if len(rrs) == 0 {
		return nil, &Error{Name: name, Permanent: true, NotFound: true, Msg: "no TXT records"}
	}
	txts := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		var b strings.Builder
		for _, s := range rr.(*mdns.TXT).Txt {
			b.WriteString(unescapeTXT(s))
		}
		txts = append(txts, b.String())
	}
	return txts, nil
}

// LookupPTR returns the names addr maps back to, without trailing dots.
func (c *Client) LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error) {
	rev, err := mdns.ReverseAddr(addr.Unmap().String())
	if err != nil {
		return nil, &Error{Name: addr.String(), Permanent: true, Msg: "invalid address"}
	}
	rrs, err := c.records(ctx, addr.String(), rev, mdns.TypePTR)
	if err != nil {
		return nil, err
	}
	if len(rrs) == 0 {
		return nil, &Error{Name: addr.String(), Permanent: true, NotFound: true, Msg: "no PTR records"}
	}
	names := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		names = append(names, hostName(rr.(*mdns.PTR).Ptr))
	}
	return names, nil
}

// checkName returns the fully qualified form of a name a caller gave.
func checkName(name string) (string, error) {
	if _, ok := mdns.IsDomainName(name); !ok || name == "" || name == "." {
		return "", &Error{Name: name, Permanent: true, Msg: "invalid domain name"}
	}
	return mdns.Fqdn(name), nil
}

// hostName is how names leave this package: lower case, no trailing dot.
func hostName(fqdn string) string {
	return strings.ToLower(strings.TrimSuffix(fqdn, "."))
}

// unescapeTXT turns a character-string from miekg/dns's presentation form
// ("\"", "\\", "\DDD") back into its bytes.
func unescapeTXT(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b = append(b, s[i])
			continue
		}
		i++
		if i+2 < len(s) && isDigit(s[i]) && isDigit(s[i+1]) && isDigit(s[i+2]) {
			b = append(b, (s[i]-'0')*100+(s[i+1]-'0')*10+(s[i+2]-'0'))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
