package dnsrec

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"sendpool/internal/dkim"
	"sendpool/internal/domain"
)

var testPool = []PoolIP{
	{netip.MustParseAddr("127.0.0.2"), "mta1.sendpool.test"},
	{netip.MustParseAddr("127.0.0.3"), "mta2.sendpool.test"},
	{netip.MustParseAddr("127.0.0.4"), "mta3.sendpool.test"},
	{netip.MustParseAddr("127.0.0.5"), "mta4.sendpool.test"},
}

func testConfig() *Config {
	return &Config{
		SPFHost: "_spf.relay.sendpool.test", Pool: testPool,
		DMARCRUA: "mailto:dmarc@{domain}", RetireAfter: 168 * time.Hour,
	}
}

// testDomain has an active and a pending key of each algorithm, and a
// retired RSA key retired at retired.
func testDomain(t *testing.T, name string, retired time.Time) *domain.Domain {
	t.Helper()
	d := &domain.Domain{Name: name, Account: "shop"}
	add := func(sel string, alg domain.Algorithm, st domain.KeyState) {
		k, err := dkim.Generate(alg, sel, st, retired.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if st == domain.Retired {
			k.ActivatedAt, k.RetiredAt = retired.Add(-time.Hour), retired
		}
		d.Keys = append(d.Keys, k)
	}
	add("sp202610r", domain.RSA, domain.Retired)
	add("sp202611r", domain.RSA, domain.Active)
	add("sp202611e", domain.Ed25519, domain.Active)
	add("sp202612r", domain.RSA, domain.Pending)
	add("sp202612e", domain.Ed25519, domain.Pending)
	return d
}

func summary(rs []Record) string {
	var b strings.Builder
	for _, r := range rs {
		v := r.Value
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		fmt.Fprintf(&b, "%s %s %s %q\n", r.Purpose, r.Type, r.Name, v)
	}
	return b.String()
}

func TestRecordsInclude(t *testing.T) {
	retired := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := testConfig()
	c.ReturnPathHost = "bounce.sendpool.test"
	d := testDomain(t, "shop.test", retired)
	got := summary(c.Records(d, retired.Add(24*time.Hour)))
	want := `spf TXT shop.test "v=spf1 include:_spf.relay.sendpool.test …"
spf-service TXT _spf.relay.sendpool.test "v=spf1 ip4:127.0.0.2 ip4:127.0.0.3 ip4:1…"
dkim-retired TXT sp202610r._domainkey.shop.test "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQ…"
dkim TXT sp202611r._domainkey.shop.test "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQ…"
dkim TXT sp202611e._domainkey.shop.test "v=DKIM1; k=ed25519; p=` + d.Keys[2].PublicKey[:18] + `…"
dkim-pending TXT sp202612r._domainkey.shop.test "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQ…"
dkim-pending TXT sp202612e._domainkey.shop.test "v=DKIM1; k=ed25519; p=` + d.Keys[4].PublicKey[:18] + `…"
dmarc TXT _dmarc.shop.test "v=DMARC1; p=none; rua=mailto:dmarc@shop.…"
return-path CNAME bounces.shop.test "bounce.sendpool.test"
`
	if got != want {
		t.Fatalf("records:\n%s\nwant:\n%s", got, want)
	}
	rs := c.Records(d, retired.Add(24*time.Hour))
	if rs[0].Value != "v=spf1 include:_spf.relay.sendpool.test ~all" ||
		rs[1].Value != "v=spf1 ip4:127.0.0.2 ip4:127.0.0.3 ip4:127.0.0.4 ip4:127.0.0.5 -all" ||
		rs[7].Value != "v=DMARC1; p=none; rua=mailto:dmarc@shop.test" {
		t.Fatalf("values: %q %q %q", rs[0].Value, rs[1].Value, rs[7].Value)
	}
	if !strings.Contains(rs[2].Note, "2026-12-08T00:00:00Z") {
		t.Fatalf("retired key's note %q does not say until when", rs[2].Note)
	}
	// Once retire_after has passed, the retired key is no longer listed.
	later := summary(c.Records(d, retired.Add(168*time.Hour)))
	if strings.Contains(later, "sp202610r") {
		t.Fatalf("removable key still listed:\n%s", later)
	}
}

func TestRecordsIPMode(t *testing.T) {
	c := testConfig()
	c.SPFMode, c.DMARCRUA, c.DMARCPolicy = SPFIP, "", "quarantine"
	c.Pool = append(c.Pool, PoolIP{netip.MustParseAddr("2001:db8::25"), "mta5.sendpool.test"})
	rs := c.Records(&domain.Domain{Name: "shop.test"}, time.Now())
	if len(rs) != 2 {
		t.Fatalf("records:\n%s", summary(rs))
	}
	if want := "v=spf1 ip4:127.0.0.2 ip4:127.0.0.3 ip4:127.0.0.4 ip4:127.0.0.5 ip6:2001:db8::25 ~all"; rs[0].Value != want {
		t.Fatalf("SPF %q, want %q", rs[0].Value, want)
	}
	if rs[1].Value != "v=DMARC1; p=quarantine" {
		t.Fatalf("DMARC %q", rs[1].Value)
	}
}

// TestServiceRecordsChainLargePools: a pool too large for one record is
// cut into records of at most 450 bytes chained by includes.
func TestServiceRecordsChainLargePools(t *testing.T) {
	c := testConfig()
	c.Pool = nil
	for i := range 60 {
		c.Pool = append(c.Pool, PoolIP{netip.MustParseAddr(fmt.Sprintf("2001:db8:1234:5678::%x", 0x1000+i)), "mta.sendpool.test"})
	}
	rs := c.ServiceRecords()
	if len(rs) < 3 {
		t.Fatalf("%d records for 60 IPv6 addresses, want a chain", len(rs))
	}
	n := 0
	for i, r := range rs {
		if len(r.Value) > maxSPFLength {
			t.Errorf("record %d is %d bytes", i, len(r.Value))
		}
		n += strings.Count(r.Value, "ip6:")
		if i+1 < len(rs) && !strings.Contains(r.Value, "include:"+rs[i+1].Name+" -all") {
			t.Errorf("record %d does not include the next: %q", i, r.Value)
		}
	}
	if n != 60 || rs[1].Name != "s2._spf.relay.sendpool.test" {
		t.Fatalf("%d addresses listed, second record at %s", n, rs[1].Name)
	}
}

func TestZone(t *testing.T) {
	long := "v=DKIM1; k=rsa; p=" + strings.Repeat("A", 380)
	got := Zone([]Record{
		{Type: "TXT", Name: "sel._domainkey.shop.test", Value: long, Purpose: "dkim"},
		{Type: "TXT", Name: "q.shop.test", Value: `say "hi" \ bye`, Purpose: "x", Note: "quoted"},
		{Type: "CNAME", Name: "bounces.shop.test", Value: "bounce.sendpool.test", Purpose: "return-path"},
	})
	want := "; dkim\nsel._domainkey.shop.test.\t3600\tIN\tTXT\t\"" + long[:255] + "\" \"" + long[255:] + "\"\n" +
		"; x: quoted\nq.shop.test.\t3600\tIN\tTXT\t\"say \\\"hi\\\" \\\\ bye\"\n" +
		"; return-path\nbounces.shop.test.\t3600\tIN\tCNAME\tbounce.sendpool.test.\n"
	if got != want {
		t.Fatalf("zone:\n%s\nwant:\n%s", got, want)
	}
	if p := SplitTXT(strings.Repeat("x", 510)); len(p) != 2 || len(p[0]) != 255 || len(p[1]) != 255 {
		t.Fatalf("SplitTXT of 510 bytes: %d parts", len(p))
	}
}
