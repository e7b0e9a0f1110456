package dnsbl

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"sendpool/internal/dns"
	"sendpool/internal/sandbox"
)

func TestName(t *testing.T) {
	for _, c := range []struct{ ip, zone, want string }{
		// RFC 5782 §2.1's example.
		{"192.0.2.99", "bad.example.com", "99.2.0.192.bad.example.com"},
		{"127.0.0.4", "zen.spamhaus.test.", "4.0.0.127.zen.spamhaus.test"},
		{"::ffff:127.0.0.4", "zen.spamhaus.test", "4.0.0.127.zen.spamhaus.test"},
		// RFC 5782 §2.4: nibbles, least significant first.
		{"2001:db8:1:2:3:4:567:89ab", "ugly.example.com",
			"b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com"},
	} {
		if got := Name(netip.MustParseAddr(c.ip), c.zone); got != c.want {
			t.Errorf("Name(%s, %s) = %s, want %s", c.ip, c.zone, got, c.want)
		}
	}
}

func TestLookup(t *testing.T) {
	srv, err := sandbox.NewDNSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.SetA("4.0.0.127.zen.spamhaus.test", "127.0.0.2", "127.0.0.4")
	srv.SetTXT("4.0.0.127.zen.spamhaus.test", "Listed by SBL, see https://check.spamhaus.test/4")
	srv.SetA("5.0.0.127.zen.spamhaus.test", "127.0.0.3") // no TXT
	srv.SetA("6.0.0.127.zen.spamhaus.test", "127.255.255.254")
	srv.SetA("7.0.0.127.zen.spamhaus.test", "192.0.2.1")
	srv.SetA("1.0.0.127.zen.spamhaus.test") // the zone has names below it
	srv.SetServFail("8.0.0.127.zen.spamhaus.test", true)
	r, err := dns.New([]string{srv.Addr()}, dns.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	look := func(ip string) (Result, error) {
		return Lookup(ctx, r, "zen.spamhaus.test", netip.MustParseAddr(ip))
	}

	res, err := look("127.0.0.4")
	if err != nil || !res.Listed || len(res.Codes) != 2 || res.Reason != "Listed by SBL, see https://check.spamhaus.test/4" {
		t.Errorf("listed with TXT: %+v, %v", res, err)
	}
	res, err = look("127.0.0.5")
	if err != nil || !res.Listed || res.Reason != "listed (127.0.0.3)" {
		t.Errorf("listed without TXT: %+v, %v", res, err)
	}
	res, err = look("127.0.0.9") // NXDOMAIN
	if err != nil || res.Listed {
		t.Errorf("not listed: %+v, %v", res, err)
	}
	if _, err = look("127.0.0.6"); !errors.Is(err, ErrRefused) {
		t.Errorf("127.255.255.254 answer: err %v, want ErrRefused", err)
	}
	if res, err = look("127.0.0.7"); err == nil || res.Listed {
		t.Errorf("answer outside 127/8: %+v, %v; want an error, not a listing", res, err)
	}
	if res, err = look("127.0.0.8"); err == nil || res.Listed {
		t.Errorf("SERVFAIL: %+v, %v; want an error", res, err)
	}
}
