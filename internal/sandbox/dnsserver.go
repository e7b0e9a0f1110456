package sandbox

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	mdns "github.com/miekg/dns"
)

// Defaults of the DNS server.
const (
	dnsDefaultTTL    = 300
	dnsDefaultNegTTL = 300
	// The buffer size the server advertises in its own OPT record.
	dnsEDNSBufferSize = 1232
	// How many CNAMEs an answer follows before giving up, as resolvers do.
	dnsMaxCNAMEChain = 8
	// A TXT character-string holds at most 255 bytes (RFC 1035 §3.3.14).
	txtChunk = 255
)

// MXRecord is one mail exchanger served by DNSServer.
type MXRecord struct {
	Host string
	Pref uint16
}

// DNSServer is an authoritative DNS server on loopback, over UDP and TCP on
// one address, serving whatever records it is told. The sandbox and the tests
// point resolvers at it. Every name it knows is answered authoritatively:
// unknown names get NXDOMAIN and known names without the asked type get
// NODATA, both with an SOA in the authority section (RFC 2308 §2). All
// methods are safe for concurrent use.
type DNSServer struct {
	addr string
	udp  *mdns.Server
	tcp  *mdns.Server

	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex
	names    map[string]map[uint16][]mdns.RR // canonical owner name → type → records (TTL applied when answering)
	servfail map[string]bool
	secure   map[string]bool // zones whose answers carry the AD bit
	ttl      uint32
	negTTL   uint32
	queries  map[dnsQuery]int
}

type dnsQuery struct {
	name  string
	qtype uint16
}

// NewDNSServer listens on addr over both UDP and TCP and serves until Close.
// With port 0, it picks a port free for both.
func NewDNSServer(addr string) (*DNSServer, error) {
	pc, l, err := listenBoth(addr)
	if err != nil {
		return nil, err
	}
	s := &DNSServer{
		addr:     pc.LocalAddr().String(),
		names:    make(map[string]map[uint16][]mdns.RR),
		servfail: make(map[string]bool),
		secure:   make(map[string]bool),
		ttl:      dnsDefaultTTL,
		negTTL:   dnsDefaultNegTTL,
		queries:  make(map[dnsQuery]int),
	}
	handler := mdns.HandlerFunc(s.serveDNS)
	s.udp = &mdns.Server{PacketConn: pc, Handler: handler}
	s.tcp = &mdns.Server{Listener: l, Handler: handler}

	started := make(chan struct{}, 2)
	errc := make(chan error, 2) // buffered: the serving goroutines never block on exit
	for _, srv := range []*mdns.Server{s.udp, s.tcp} {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		go func() { errc <- srv.ActivateAndServe() }()
	}
	for range 2 {
		select {
		case <-started:
		case err := <-errc:
			pc.Close()
			l.Close()
			return nil, fmt.Errorf("sandbox dns: serve: %w", err)
		}
	}
	return s, nil
}

// listenBoth binds UDP and TCP to the same address. With port 0 the UDP
// port is chosen first; if TCP cannot have the same one, it tries again.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox dns: %w", err)
	}
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("sandbox dns: %w", err)
		}
		p := pc.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		lastErr = err
		if port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("sandbox dns: %w", lastErr)
}

// Addr is the host:port the server answers on, over UDP and TCP.
func (s *DNSServer) Addr() string { return s.addr }

// Close stops the server. Later calls return the first call's result.
func (s *DNSServer) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = errors.Join(s.udp.Shutdown(), s.tcp.Shutdown())
	})
	return s.closeErr
}

// SetMX replaces domain's MX records. With none, the domain exists without
// MX records (NODATA).
func (s *DNSServer) SetMX(domain string, mx ...MXRecord) {
	owner := canonicalName(domain)
	rrs := make([]mdns.RR, 0, len(mx))
	for _, m := range mx {
		rrs = append(rrs, &mdns.MX{
			Hdr:        header(owner, mdns.TypeMX),
			Preference: m.Pref,
			Mx:         mdns.Fqdn(m.Host),
		})
	}
	s.set(owner, mdns.TypeMX, rrs)
}

// SetNullMX publishes a null MX for domain (RFC 7505): it accepts no mail.
func (s *DNSServer) SetNullMX(domain string) {
	s.SetMX(domain, MXRecord{Host: ".", Pref: 0})
}

// SetA replaces host's addresses: IPv4 ones are served as A records, IPv6
// ones as AAAA. It panics on an address that does not parse, a mistake in
// the caller's fixture.
func (s *DNSServer) SetA(host string, addrs ...string) {
	owner := canonicalName(host)
	var a, aaaa []mdns.RR
	for _, v := range addrs {
		ip, err := netip.ParseAddr(v)
		if err != nil {
			panic(fmt.Sprintf("sandbox dns: SetA(%q): %v", host, err))
		}
		ip = ip.Unmap()
		if ip.Is4() {
			a = append(a, &mdns.A{Hdr: header(owner, mdns.TypeA), A: ip.AsSlice()})
		} else {
			aaaa = append(aaaa, &mdns.AAAA{Hdr: header(owner, mdns.TypeAAAA), AAAA: ip.AsSlice()})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(owner, mdns.TypeA, a)
	s.setLocked(owner, mdns.TypeAAAA, aaaa)
}

// SetTXT replaces name's TXT records, one per value. A value longer than
// 255 bytes is split into several character-strings of one record
// (RFC 7208 §3.3), which readers join again.
func (s *DNSServer) SetTXT(name string, values ...string) {
	owner := canonicalName(name)
	rrs := make([]mdns.RR, 0, len(values))
	for _, v := range values {
		rrs = append(rrs, &mdns.TXT{Hdr: header(owner, mdns.TypeTXT), Txt: splitTXT(v)})
	}
	s.set(owner, mdns.TypeTXT, rrs)
}

// SetPTR replaces the reverse names of addr (an IPv4 or IPv6 address). It
// panics on an address that does not parse.
func (s *DNSServer) SetPTR(addr string, names ...string) {
	rev, err := mdns.ReverseAddr(addr)
	if err != nil {
		panic(fmt.Sprintf("sandbox dns: SetPTR(%q): %v", addr, err))
	}
	owner := canonicalName(rev)
	rrs := make([]mdns.RR, 0, len(names))
	for _, n := range names {
		rrs = append(rrs, &mdns.PTR{Hdr: header(owner, mdns.TypePTR), Ptr: mdns.Fqdn(n)})
	}
	s.set(owner, mdns.TypePTR, rrs)
}

// SetCNAME makes name an alias of target. Answers for name follow the alias
// through the records this server holds, as an authoritative server does.
func (s *DNSServer) SetCNAME(name, target string) {
	owner := canonicalName(name)
	s.set(owner, mdns.TypeCNAME, []mdns.RR{
		&mdns.CNAME{Hdr: header(owner, mdns.TypeCNAME), Target: mdns.Fqdn(target)},
	})
}

// SetServFail makes every query for name (whatever its type) fail with
// SERVFAIL while on is true.
func (s *DNSServer) SetServFail(name string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.servfail[canonicalName(name)] = true
	} else {
		delete(s.servfail, canonicalName(name))
	}
}

// TLSARecord is one TLSA record (RFC 6698 §2.1) served by DNSServer.
type TLSARecord struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte // the certificate association data
}

// SetTLSA replaces the TLSA records at name, e.g. "_25._tcp.mx.example.test".
func (s *DNSServer) SetTLSA(name string, records ...TLSARecord) {
	owner := canonicalName(name)
	rrs := make([]mdns.RR, 0, len(records))
	for _, r := range records {
		rrs = append(rrs, &mdns.TLSA{Hdr: header(owner, mdns.TypeTLSA), Usage: r.Usage, Selector: r.Selector,
			MatchingType: r.MatchingType, Certificate: hex.EncodeToString(r.Data)})
	}
	s.set(owner, mdns.TypeTLSA, rrs)
}

// SetSecure makes the answers about names at or below zone carry the AD
// bit while on is true, as a validating resolver's do for a signed zone:
// the server stands in for one (dns.dnssec_resolver) in tests of DANE.
func (s *DNSServer) SetSecure(zone string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.secure[canonicalName(zone)] = true
	} else {
		delete(s.secure, canonicalName(zone))
	}
}

// secureLocked reports whether name is at or below a secure zone.
func (s *DNSServer) secureLocked(name string) bool {
	name = canonicalName(name)
	for zone := range s.secure {
		if name == zone || strings.HasSuffix(name, "."+zone) {
			return true
		}
	}
	return false
}

// Remove forgets all records of name, which then gets NXDOMAIN (unless
// names below it still exist). A SetServFail stays in force.
func (s *DNSServer) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.names, canonicalName(name))
}

// SetTTL sets the TTL of every record answered from now on (default 300).
func (s *DNSServer) SetTTL(ttl uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ttl = ttl
}

// SetNegativeTTL sets the SOA MINIMUM and the SOA's own TTL in negative
// answers (default 300): how long resolvers may cache an NXDOMAIN or NODATA
// (RFC 2308 §5).
func (s *DNSServer) SetNegativeTTL(ttl uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.negTTL = ttl
}

// Queries is how many queries for name and qtype (e.g. dns.TypeMX of
// github.com/miekg/dns) the server received, over UDP and TCP together.
func (s *DNSServer) Queries(name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[dnsQuery{canonicalName(name), qtype}]
}

// ResetQueries sets every query count back to zero.
func (s *DNSServer) ResetQueries() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.queries)
}

func (s *DNSServer) set(owner string, qtype uint16, rrs []mdns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(owner, qtype, rrs)
}

func (s *DNSServer) setLocked(owner string, qtype uint16, rrs []mdns.RR) {
	types := s.names[owner]
	if types == nil {
		types = make(map[uint16][]mdns.RR)
		s.names[owner] = types
	}
	types[qtype] = rrs
}

// serveDNS answers one query.
func (s *DNSServer) serveDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	switch {
	case req.Opcode != mdns.OpcodeQuery:
		m.Rcode = mdns.RcodeNotImplemented
	case len(req.Question) != 1:
		m.Rcode = mdns.RcodeFormatError
	default:
		q := req.Question[0]
		s.mu.Lock()
		s.queries[dnsQuery{canonicalName(q.Name), q.Qtype}]++
		m.Rcode, m.Answer, m.Ns = s.resolveLocked(q.Name, q.Qtype)
		// A validating resolver's AD bit (RFC 6840 §5.7), for a client
		// that asks for it (AD or DO set).
		asks := req.AuthenticatedData || (req.IsEdns0() != nil && req.IsEdns0().Do())
		m.AuthenticatedData = asks && m.Rcode != mdns.RcodeServerFailure && s.secureLocked(q.Name)
		s.mu.Unlock()
	}

	// Over UDP the answer must fit the client's buffer: 512 bytes, or what
	// its OPT record says (RFC 6891 §6.2.5). What does not fit is left out
	// with TC set, and the client asks again over TCP (RFC 7766 §5).
	size := mdns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(dnsEDNSBufferSize, false)
		size = max(size, int(opt.UDPSize()))
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		m.Truncate(size)
	} else {
		m.Compress = true
	}
	_ = w.WriteMsg(m) // a client gone away is no concern of the server
}

// resolveLocked finds the answer to one question, following CNAMEs held by
// this server. The rcode belongs to the last name of the chain (RFC 6604).
func (s *DNSServer) resolveLocked(qname string, qtype uint16) (rcode int, answer, authority []mdns.RR) {
	name := canonicalName(qname)
	for range dnsMaxCNAMEChain {
		if s.servfail[name] {
			return mdns.RcodeServerFailure, nil, nil
		}
		types, ok := s.names[name]
		if !ok && !s.hasBelowLocked(name) {
			return mdns.RcodeNameError, answer, []mdns.RR{s.soaLocked(name)}
		}
		if cname := types[mdns.TypeCNAME]; len(cname) > 0 && qtype != mdns.TypeCNAME {
			answer = append(answer, s.withTTLLocked(cname)...)
			name = canonicalName(cname[0].(*mdns.CNAME).Target)
			continue
		}
		rrs := types[qtype]
		if len(rrs) == 0 {
			return mdns.RcodeSuccess, answer, []mdns.RR{s.soaLocked(name)}
		}
		return mdns.RcodeSuccess, append(answer, s.withTTLLocked(rrs)...), nil
	}
	return mdns.RcodeServerFailure, nil, nil
}

// hasBelowLocked reports whether name is an empty non-terminal: it holds no
// records but names below it do, so it exists (RFC 8020) and gets NODATA.
func (s *DNSServer) hasBelowLocked(name string) bool {
	suffix := "." + name
	if name == "." {
		suffix = "."
	}
	for n := range s.names {
		if strings.HasSuffix(n, suffix) {
			return true
		}
	}
	return false
}

func (s *DNSServer) withTTLLocked(rrs []mdns.RR) []mdns.RR {
	out := make([]mdns.RR, len(rrs))
	for i, rr := range rrs {
		c := mdns.Copy(rr)
		c.Header().Ttl = s.ttl
		out[i] = c
	}
	return out
}

// soaLocked is the SOA of the zone name is in, taken to be its last two
// labels ("mx1.gmail.test." is in "gmail.test.").
func (s *DNSServer) soaLocked(name string) mdns.RR {
	zone := "."
	if labels := mdns.SplitDomainName(name); len(labels) > 0 {
		zone = mdns.Fqdn(strings.Join(labels[max(0, len(labels)-2):], "."))
	}
	return &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: zone, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: s.negTTL},
		Ns:      "ns." + strings.TrimPrefix(zone, "."),
		Mbox:    "hostmaster." + strings.TrimPrefix(zone, "."),
		Serial:  1,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  s.negTTL,
	}
}

func header(owner string, rrtype uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: owner, Rrtype: rrtype, Class: mdns.ClassINET}
}

// canonicalName is the lower-case, fully qualified form of a name: names
// compare case-insensitively (RFC 4343) and with or without the final dot.
func canonicalName(name string) string {
	return strings.ToLower(mdns.Fqdn(name))
}

// splitTXT cuts a value into character-strings of at most 255 bytes, each
// in the presentation form miekg/dns packs: '"' and '\' escaped with a
// backslash, other bytes outside printable ASCII as \DDD.
func splitTXT(v string) []string {
	var parts []string
	for {
		n := min(len(v), txtChunk)
		parts = append(parts, escapeTXT(v[:n]))
		v = v[n:]
		if v == "" {
			return parts
		}
	}
}

func escapeTXT(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
