package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"sendpool/internal/sandbox"
)

func newServer(t *testing.T) *sandbox.DNSServer {
	t.Helper()
	s, err := sandbox.NewDNSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newClient(t *testing.T, opts Options, servers ...string) *Client {
	t.Helper()
	c, err := New(servers, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLookupMXOrder(t *testing.T) {
	s := newServer(t)
	s.SetMX("order.test",
		sandbox.MXRecord{Host: "mx30.order.test", Pref: 30},
		sandbox.MXRecord{Host: "MX10.order.test.", Pref: 10},
		sandbox.MXRecord{Host: "mx20b.order.test", Pref: 20},
		sandbox.MXRecord{Host: "mx20a.order.test", Pref: 20},
	)
	c := newClient(t, Options{}, s.Addr())
	got, err := c.LookupMX(t.Context(), "order.test")
	if err != nil {
		t.Fatal(err)
	}
	want := []MX{{"mx10.order.test", 10}, {"mx20a.order.test", 20}, {"mx20b.order.test", 20}, {"mx30.order.test", 30}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestLookupMXImplicit(t *testing.T) {
	s := newServer(t)
	s.SetA("implicit.test", "127.0.0.9")
	s.SetA("v6only.test", "::1")
	c := newClient(t, Options{}, s.Addr())
	for _, domain := range []string{"implicit.test", "V6only.test."} {
		got, err := c.LookupMX(t.Context(), domain)
		if err != nil {
			t.Fatalf("%s: %v", domain, err)
		}
		want := []MX{{Host: strings.ToLower(strings.TrimSuffix(domain, ".")), Pref: 0}}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", domain, got, want)
		}
	}

	// Neither MX nor address: nowhere to deliver, for good.
	s.SetTXT("txtonly.test", "hello")
	_, err := c.LookupMX(t.Context(), "txtonly.test")
	if !IsPermanent(err) || errors.Is(err, ErrNullMX) {
		t.Errorf("no MX, no address: err %v, want permanent and not null MX", err)
	}
}

func TestLookupMXNull(t *testing.T) {
	s := newServer(t)
	s.SetNullMX("nomail.test")
	c := newClient(t, Options{}, s.Addr())
	_, err := c.LookupMX(t.Context(), "nomail.test")
	if !errors.Is(err, ErrNullMX) || !IsPermanent(err) {
		t.Errorf("err %v, want ErrNullMX", err)
	}
}

func TestNXDomainIsPermanent(t *testing.T) {
	s := newServer(t)
	c := newClient(t, Options{}, s.Addr())
	_, err := c.LookupMX(t.Context(), "nowhere.test")
	var e *Error
	if !errors.As(err, &e) || !e.Permanent || !e.NotFound || e.Name != "nowhere.test" {
		t.Errorf("MX: err %#v, want permanent NotFound *Error for nowhere.test", err)
	}
	if _, err := c.LookupIP(t.Context(), "nowhere.test"); !IsPermanent(err) || !IsNotFound(err) {
		t.Errorf("IP: err %v", err)
	}
	if _, err := c.LookupTXT(t.Context(), "nowhere.test"); !IsPermanent(err) || !IsNotFound(err) {
		t.Errorf("TXT: err %v", err)
	}
}

func TestServFailIsTemporary(t *testing.T) {
	s := newServer(t)
	s.SetMX("broken.test", sandbox.MXRecord{Host: "mx.broken.test", Pref: 10})
	s.SetServFail("broken.test", true)
	c := newClient(t, Options{}, s.Addr())
	for range 2 {
		_, err := c.LookupMX(t.Context(), "broken.test")
		var e *Error
		if !errors.As(err, &e) || e.Permanent || IsNotFound(err) {
			t.Fatalf("err %v, want a temporary *Error", err)
		}
	}
	if n := s.Queries("broken.test", mdns.TypeMX); n != 2 {
		t.Errorf("server asked %d times, want 2: failures are not cached", n)
	}
	s.SetServFail("broken.test", false)
	if mxs, err := c.LookupMX(t.Context(), "broken.test"); err != nil || len(mxs) != 1 {
		t.Errorf("after recovery: %v, %v", mxs, err)
	}
}

func TestInvalidName(t *testing.T) {
	c := newClient(t, Options{}, "127.0.0.1:1")
	for _, name := range []string{"", ".", "a..b", strings.Repeat("x", 64) + ".test"} {
		if _, err := c.LookupMX(t.Context(), name); !IsPermanent(err) {
			t.Errorf("%q: err %v, want permanent", name, err)
		}
	}
}

func TestNextServerOnTimeoutAndServFail(t *testing.T) {
	// A server that never answers: a UDP socket nobody reads.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	failing := newServer(t)
	failing.SetServFail("next.test", true)
	good := newServer(t)
	good.SetA("next.test", "127.0.0.3")

	c := newClient(t, Options{Timeout: 200 * time.Millisecond}, silent.LocalAddr().String(), failing.Addr(), good.Addr())
	addrs, err := c.LookupIP(t.Context(), "next.test")
	if err != nil || len(addrs) != 1 || addrs[0] != netip.MustParseAddr("127.0.0.3") {
		t.Fatalf("got %v, %v", addrs, err)
	}
	if n := failing.Queries("next.test", mdns.TypeA); n != 1 {
		t.Errorf("failing server asked %d times, want 1", n)
	}

	// All servers down: a temporary error.
	c = newClient(t, Options{Timeout: 100 * time.Millisecond}, silent.LocalAddr().String())
	if _, err := c.LookupIP(t.Context(), "next.test"); err == nil || IsPermanent(err) {
		t.Errorf("silent server: err %v, want temporary", err)
	}
}

func TestCanceledContext(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	c := newClient(t, Options{Timeout: time.Minute}, silent.LocalAddr().String())
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	_, err = c.LookupIP(ctx, "cancel.test")
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("err %v, want a temporary error from the cancellation", err)
	}
}

func TestLookupIP(t *testing.T) {
	s := newServer(t)
	s.SetA("dual.test", "::1", "127.0.0.1", "127.0.0.2")
	s.SetMX("mailonly.test", sandbox.MXRecord{Host: "mx.mailonly.test", Pref: 1})
	c := newClient(t, Options{}, s.Addr())
	got, err := c.LookupIP(t.Context(), "dual.test")
	want := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::1")}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %v, %v; want %v (A before AAAA)", got, err, want)
	}
	if _, err := c.LookupIP(t.Context(), "mailonly.test"); !IsNotFound(err) || !IsPermanent(err) {
		t.Errorf("NODATA: err %v", err)
	}
}

func TestCNAME(t *testing.T) {
	s := newServer(t)
	s.SetCNAME("alias.test", "hop.test")
	s.SetCNAME("hop.test", "real.test")
	s.SetA("real.test", "127.0.0.4")
	s.SetMX("real.test", sandbox.MXRecord{Host: "mx.real.test", Pref: 5})
	s.SetCNAME("dangling.test", "gone.test")
	c := newClient(t, Options{}, s.Addr())

	if addrs, err := c.LookupIP(t.Context(), "alias.test"); err != nil || len(addrs) != 1 || addrs[0].String() != "127.0.0.4" {
		t.Errorf("IP via CNAME: %v, %v", addrs, err)
	}
	if mxs, err := c.LookupMX(t.Context(), "alias.test"); err != nil || len(mxs) != 1 || mxs[0].Host != "mx.real.test" {
		t.Errorf("MX via CNAME: %v, %v", mxs, err)
	}
	if _, err := c.LookupIP(t.Context(), "dangling.test"); !IsNotFound(err) || !IsPermanent(err) {
		t.Errorf("CNAME to nothing: err %v, want NXDOMAIN", err)
	}
	if n := s.Queries("real.test", mdns.TypeA); n != 0 {
		t.Errorf("target asked %d times; the alias's answer carried it", n)
	}
}

// A server that returns only the CNAME makes the client ask for the target.
func TestCNAMEChasedAcrossServers(t *testing.T) {
	s := newServer(t)
	s.SetCNAME("outside.test", "inside.test")
	s.SetA("inside.test", "127.0.0.6")
	// Stand-in for a server that does not resolve the alias's target: one
	// that answers only the CNAME, built on the sandbox's own answer.
	srv := &mdns.Server{Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		up, err := mdns.Exchange(r, s.Addr())
		if err != nil {
			return
		}
		if r.Question[0].Name == "outside.test." {
			up.Answer = up.Answer[:1] // the CNAME only
		}
		w.WriteMsg(up)
	})}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.PacketConn = pc
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })

	c := newClient(t, Options{}, pc.LocalAddr().String())
	addrs, err := c.LookupIP(t.Context(), "outside.test")
	if err != nil || len(addrs) != 1 || addrs[0].String() != "127.0.0.6" {
		t.Fatalf("got %v, %v", addrs, err)
	}
	if n := s.Queries("inside.test", mdns.TypeA); n != 1 {
		t.Errorf("target asked %d times, want 1", n)
	}
}

func TestLookupTXT(t *testing.T) {
	s := newServer(t)
	long := "v=DKIM1; k=rsa; p=" + strings.Repeat("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A", 12) // 400 bytes
	odd := "quote \" backslash \\ tab \t byte \xff end"
	s.SetTXT("sel._domainkey.txt.test", long, odd, "")
	c := newClient(t, Options{}, s.Addr())
	got, err := c.LookupTXT(t.Context(), "sel._domainkey.txt.test")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{long, odd, ""}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	s.SetA("notxt.test", "127.0.0.1")
	if _, err := c.LookupTXT(t.Context(), "notxt.test"); !IsNotFound(err) {
		t.Errorf("NODATA: err %v", err)
	}
}

func TestTCPFallback(t *testing.T) {
	s := newServer(t)
	big := strings.Repeat("0123456789", 300) // 3000 bytes: more than the 1232-byte UDP buffer
	s.SetTXT("big.test", big)
	addrs := make([]string, 100) // 100 A records: about 1600 bytes
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.%d.%d", i/200, i%200+1)
	}
	s.SetA("many.test", addrs...)
	c := newClient(t, Options{}, s.Addr())

	txts, err := c.LookupTXT(t.Context(), "big.test")
	if err != nil || len(txts) != 1 || txts[0] != big {
		t.Fatalf("TXT: %d records, %v", len(txts), err)
	}
	// One query over UDP answered with TC, one over TCP.
	if n := s.Queries("big.test", mdns.TypeTXT); n != 2 {
		t.Errorf("big.test asked %d times, want 2 (UDP then TCP)", n)
	}
	ips, err := c.LookupIP(t.Context(), "many.test")
	if err != nil || len(ips) != 100 {
		t.Fatalf("A: %d addresses, %v", len(ips), err)
	}
	if n := s.Queries("many.test", mdns.TypeA); n != 2 {
		t.Errorf("many.test asked %d times, want 2 (UDP then TCP)", n)
	}
}

func TestLookupPTR(t *testing.T) {
	s := newServer(t)
	s.SetPTR("127.0.0.5", "MTA5.sandbox.test")
	s.SetPTR("2001:db8::5", "v6.sandbox.test.")
	c := newClient(t, Options{}, s.Addr())
	for addr, want := range map[string]string{"127.0.0.5": "mta5.sandbox.test", "2001:db8::5": "v6.sandbox.test", "::ffff:127.0.0.5": "mta5.sandbox.test"} {
		got, err := c.LookupPTR(t.Context(), netip.MustParseAddr(addr))
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("%s: %v, %v; want %s", addr, got, err, want)
		}
	}
	if _, err := c.LookupPTR(t.Context(), netip.MustParseAddr("127.0.0.6")); !IsNotFound(err) {
		t.Errorf("no PTR: err %v", err)
	}
}

func TestNewServers(t *testing.T) {
	c := newClient(t, Options{}, "127.0.0.1", "::1", "127.0.0.2:5353")
	want := []string{"127.0.0.1:53", "[::1]:53", "127.0.0.2:5353"}
	if !slices.Equal(c.servers, want) {
		t.Errorf("servers %v, want %v", c.servers, want)
	}
	if _, err := New([]string{"dns.test"}, Options{}); err == nil {
		t.Error("a server given by name was accepted")
	}
}
