package sandbox

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	mdns "github.com/miekg/dns"
)

func newTestDNS(t *testing.T) *DNSServer {
	t.Helper()
	s, err := NewDNSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// ask sends one question over network ("udp" or "tcp"), with an EDNS0
// buffer of ednsSize unless it is zero.
func ask(t *testing.T, s *DNSServer, network, name string, qtype uint16, ednsSize uint16) *mdns.Msg {
	t.Helper()
	q := new(mdns.Msg)
	q.SetQuestion(mdns.Fqdn(name), qtype)
	if ednsSize > 0 {
		q.SetEdns0(ednsSize, false)
	}
	cl := &mdns.Client{Net: network}
	r, _, err := cl.Exchange(q, s.Addr())
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, mdns.TypeToString[qtype], err)
	}
	return r
}

func TestDNSServerListensOnUDPAndTCP(t *testing.T) {
	s := newTestDNS(t)
	host, _, err := net.SplitHostPort(s.Addr())
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("Addr() = %q", s.Addr())
	}
	s.SetA("both.test", "127.0.0.7")
	for _, network := range []string{"udp", "tcp"} {
		r := ask(t, s, network, "both.test", mdns.TypeA, 0)
		if len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "127.0.0.7" {
			t.Errorf("%s: answer %v", network, r.Answer)
		}
	}
}

func TestDNSServerNXDomainAndNoData(t *testing.T) {
	s := newTestDNS(t)
	s.SetA("mx1.known.test", "127.0.0.1")

	r := ask(t, s, "udp", "unknown.known.test", mdns.TypeA, 0)
	if r.Rcode != mdns.RcodeNameError || !r.Authoritative || len(r.Answer) != 0 {
		t.Errorf("unknown name: rcode %s aa %v answer %v", mdns.RcodeToString[r.Rcode], r.Authoritative, r.Answer)
	}
	if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != mdns.TypeSOA || r.Ns[0].Header().Name != "known.test." {
		t.Errorf("unknown name: authority %v, want the SOA of known.test.", r.Ns)
	}

	r = ask(t, s, "udp", "mx1.known.test", mdns.TypeMX, 0)
	if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != mdns.TypeSOA {
		t.Errorf("NODATA: rcode %s answer %v authority %v", mdns.RcodeToString[r.Rcode], r.Answer, r.Ns)
	}

	// An empty non-terminal exists (RFC 8020): NODATA, not NXDOMAIN.
	r = ask(t, s, "udp", "known.test", mdns.TypeA, 0)
	if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("empty non-terminal: rcode %s answer %v", mdns.RcodeToString[r.Rcode], r.Answer)
	}

	s.SetNegativeTTL(7)
	r = ask(t, s, "udp", "other.test", mdns.TypeA, 0)
	soa := r.Ns[0].(*mdns.SOA)
	if soa.Minttl != 7 || soa.Hdr.Ttl != 7 {
		t.Errorf("SOA minimum %d ttl %d, want 7", soa.Minttl, soa.Hdr.Ttl)
	}
}

func TestDNSServerNamesAreCaseInsensitive(t *testing.T) {
	s := newTestDNS(t)
	s.SetMX("Mixed.TEST.", MXRecord{Host: "MX.Mixed.test", Pref: 10})
	for _, name := range []string{"mixed.test", "MIXED.test."} {
		r := ask(t, s, "udp", name, mdns.TypeMX, 0)
		if len(r.Answer) != 1 || r.Answer[0].(*mdns.MX).Preference != 10 {
			t.Errorf("%s: answer %v", name, r.Answer)
		}
	}
	if n := s.Queries("MIXED.Test", mdns.TypeMX); n != 2 {
		t.Errorf("Queries = %d, want 2", n)
	}
	s.ResetQueries()
	if n := s.Queries("mixed.test", mdns.TypeMX); n != 0 {
		t.Errorf("after ResetQueries: %d", n)
	}
}

func TestDNSServerRecordTypes(t *testing.T) {
	s := newTestDNS(t)
	s.SetTTL(42)
	s.SetA("dual.test", "127.0.0.1", "::1", "127.0.0.2")
	s.SetNullMX("nomail.test")
	s.SetPTR("127.0.0.5", "mta5.sandbox.test")
	s.SetCNAME("www.alias.test", "dual.test")

	if r := ask(t, s, "udp", "dual.test", mdns.TypeA, 0); len(r.Answer) != 2 || r.Answer[0].Header().Ttl != 42 {
		t.Errorf("A: %v", r.Answer)
	}
	if r := ask(t, s, "udp", "dual.test", mdns.TypeAAAA, 0); len(r.Answer) != 1 || r.Answer[0].(*mdns.AAAA).AAAA.String() != "::1" {
		t.Errorf("AAAA: %v", r.Answer)
	}
	r := ask(t, s, "udp", "nomail.test", mdns.TypeMX, 0)
	if len(r.Answer) != 1 || r.Answer[0].(*mdns.MX).Mx != "." || r.Answer[0].(*mdns.MX).Preference != 0 {
		t.Errorf("null MX: %v", r.Answer)
	}
	r = ask(t, s, "udp", "5.0.0.127.in-addr.arpa", mdns.TypePTR, 0)
	if len(r.Answer) != 1 || r.Answer[0].(*mdns.PTR).Ptr != "mta5.sandbox.test." {
		t.Errorf("PTR: %v", r.Answer)
	}
	r = ask(t, s, "udp", "www.alias.test", mdns.TypeA, 0)
	if len(r.Answer) != 3 || r.Answer[0].Header().Rrtype != mdns.TypeCNAME {
		t.Errorf("CNAME then A: %v", r.Answer)
	}
}

func TestDNSServerDNSBLZone(t *testing.T) {
	s := newTestDNS(t)
	s.SetA("4.0.0.127.zen.spamhaus.test", "127.0.0.2")
	r := ask(t, s, "udp", "4.0.0.127.zen.spamhaus.test", mdns.TypeA, 0)
	if len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "127.0.0.2" {
		t.Errorf("listed: %v", r.Answer)
	}
	if r := ask(t, s, "udp", "5.0.0.127.zen.spamhaus.test", mdns.TypeA, 0); r.Rcode != mdns.RcodeNameError {
		t.Errorf("not listed: rcode %s", mdns.RcodeToString[r.Rcode])
	}
}

func TestDNSServerLongTXT(t *testing.T) {
	s := newTestDNS(t)
	long := strings.Repeat("v=DKIM1; p=MIIBIjAN", 40) // 760 bytes
	s.SetTXT("sel._domainkey.long.test", long, `quote " and \ backslash`)
	r := ask(t, s, "tcp", "sel._domainkey.long.test", mdns.TypeTXT, 0)
	if len(r.Answer) != 2 {
		t.Fatalf("answer %v", r.Answer)
	}
	parts := r.Answer[0].(*mdns.TXT).Txt
	if len(parts) != 3 || len(parts[0]) != 255 || len(parts[1]) != 255 || strings.Join(parts, "") != long {
		t.Errorf("long value split as %d strings, want 3 of at most 255 bytes joining back", len(parts))
	}
	if got := r.Answer[1].(*mdns.TXT).Txt; len(got) != 1 || got[0] != `quote \" and \\ backslash` {
		t.Errorf("escaped value %q", got)
	}
}

func TestDNSServerTruncatesUDP(t *testing.T) {
	s := newTestDNS(t)
	s.SetTXT("big.test", strings.Repeat("x", 3000))

	r := ask(t, s, "udp", "big.test", mdns.TypeTXT, 1232)
	if !r.Truncated || len(r.Answer) != 0 {
		t.Errorf("UDP: truncated %v, %d answers; want TC and none", r.Truncated, len(r.Answer))
	}
	if r.IsEdns0() == nil {
		t.Error("UDP: no OPT record in the reply to an EDNS0 query")
	}
	r = ask(t, s, "tcp", "big.test", mdns.TypeTXT, 1232)
	if r.Truncated || len(r.Answer) != 1 {
		t.Errorf("TCP: truncated %v, %d answers", r.Truncated, len(r.Answer))
	}

	// Without EDNS0 a UDP answer stops at 512 bytes.
	addrs := make([]string, 40)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.1.%d", i+1)
	}
	s.SetA("many.test", addrs...)
	if r := ask(t, s, "udp", "many.test", mdns.TypeA, 0); !r.Truncated {
		t.Errorf("40 A records over plain UDP: not truncated (%d answers)", len(r.Answer))
	}
	if r := ask(t, s, "udp", "many.test", mdns.TypeA, 1232); r.Truncated || len(r.Answer) != 40 {
		t.Errorf("40 A records with EDNS0: truncated %v, %d answers", r.Truncated, len(r.Answer))
	}
}

func TestDNSServerServFailAndRemove(t *testing.T) {
	s := newTestDNS(t)
	s.SetA("flaky.test", "127.0.0.1")
	s.SetServFail("flaky.test", true)
	if r := ask(t, s, "udp", "flaky.test", mdns.TypeA, 0); r.Rcode != mdns.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL", mdns.RcodeToString[r.Rcode])
	}
	s.SetServFail("flaky.test", false)
	if r := ask(t, s, "udp", "flaky.test", mdns.TypeA, 0); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("after SERVFAIL off: rcode %s answer %v", mdns.RcodeToString[r.Rcode], r.Answer)
	}
	s.Remove("flaky.test")
	if r := ask(t, s, "udp", "flaky.test", mdns.TypeA, 0); r.Rcode != mdns.RcodeNameError {
		t.Errorf("after Remove: rcode %s", mdns.RcodeToString[r.Rcode])
	}
}

// Records change while queries run; run with -race.
func TestDNSServerConcurrent(t *testing.T) {
	s := newTestDNS(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				name := fmt.Sprintf("h%d.conc.test", j%4)
				s.SetA(name, fmt.Sprintf("127.0.%d.%d", i, j+1))
				q := new(mdns.Msg)
				q.SetQuestion(name+".", mdns.TypeA)
				if _, err := mdns.Exchange(q, s.Addr()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for j := range 4 {
		total += s.Queries(fmt.Sprintf("h%d.conc.test", j), mdns.TypeA)
	}
	if total != 8*20 {
		t.Errorf("counted %d queries, want %d", total, 8*20)
	}
}

func TestDNSServerFixedPortAndClose(t *testing.T) {
	s := newTestDNS(t)
	// The address is taken on both transports.
	if pc, err := net.ListenPacket("udp", s.Addr()); err == nil {
		pc.Close()
		t.Error("UDP port still free")
	}
	if l, err := net.Listen("tcp", s.Addr()); err == nil {
		l.Close()
		t.Error("TCP port still free")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// After Close, the same fixed address can be served again.
	s2, err := NewDNSServer(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if s2.Addr() != s.Addr() {
		t.Errorf("Addr %s, want %s", s2.Addr(), s.Addr())
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
}
