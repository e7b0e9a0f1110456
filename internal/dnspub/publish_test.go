package dnspub

import (
	"os/exec"
	"strings"
	"testing"

	"sendpool/internal/dkim"
	"sendpool/internal/testenv"
)

// bindWorld publishes to the test named through RFC 2136 + TSIG.
func bindWorld(t *testing.T) (*world, testenv.Bind) {
	b := testenv.BindServer(t)
	z := Zone{Name: b.Zone, Method: "rfc2136", Nameservers: []string{b.Addr},
		Backend: &RFC2136{Zone: b.Zone, Server: b.Addr, KeyName: b.KeyName, Algorithm: "hmac-sha256", Secret: b.Secret}}
	return newWorld(t, z, b.Addr), b
}

// pdnsWorld publishes to the test PowerDNS through its HTTP API.
func pdnsWorld(t *testing.T) (*world, testenv.PDNS) {
	p := testenv.PDNSServer(t)
	z := Zone{Name: p.Zone, Method: "pdns", Nameservers: []string{p.Addr},
		Backend: &PowerDNS{Zone: p.Zone, URL: p.URL, APIKey: p.APIKey, ServerID: "localhost"}}
	return newWorld(t, z, p.Addr), p
}

// nsupdate adds TXT records with the reference client, as a customer's
// own tooling would.
func nsupdate(t *testing.T, b testenv.Bind, name string, values ...string) {
	t.Helper()
	host, port, _ := strings.Cut(b.Addr, ":")
	var in strings.Builder
	in.WriteString("server " + host + " " + port + "\nzone " + b.Zone + "\n")
	for _, v := range values {
		in.WriteString("update add " + name + ". 300 TXT \"" + v + "\"\n")
	}
	in.WriteString("send\n")
	cmd := exec.Command("nsupdate", "-y", "hmac-sha256:"+b.KeyName+":"+b.Secret)
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nsupdate: %v\n%s", err, out)
	}
}

func TestPublishBind(t *testing.T) {
	w, b := bindWorld(t)
	testPublish(t, w, func(name string, vs ...string) { nsupdate(t, b, name, vs...) })
}

func TestPublishPowerDNS(t *testing.T) {
	w, p := pdnsWorld(t)
	testPublish(t, w, func(name string, vs ...string) { p.SetTXT(t, name, vs...) })
}

// testPublish: a domain with its own SPF, DMARC and another TXT record gets
// its SPF merged (one record), both DKIM keys, its DMARC kept; the check
// turns ok with no manual step; removal takes back exactly what was added.
// A domain with nothing gets every record, and loses them all.
func testPublish(t *testing.T, w *world, preset func(name string, values ...string)) {
	ctx := t.Context()
	name := w.name("shop")
	preset(name, "v=spf1 mx -all", "site-verification=abc")
	preset("_dmarc."+name, "v=DMARC1; p=reject")

	d := w.add(name)
	w.wantTXT(name, "v=spf1 mx ip4:127.0.0.2 -all", "site-verification=abc")
	for _, k := range d.Keys {
		w.wantTXT(dkim.RecordName(k.Selector, name), dkim.RecordValue(k))
	}
	w.wantTXT("_dmarc."+name, "v=DMARC1; p=reject")
	if rep := w.checks.Check(ctx, d, w.clock.Now()); !rep.OK {
		t.Fatalf("check after publishing: %+v", rep)
	}
	// Again: nothing changes, nothing is added twice.
	w.sync(name)
	w.wantTXT(name, "v=spf1 mx ip4:127.0.0.2 -all", "site-verification=abc")

	if err := w.pub.Unpublish(ctx, name); err != nil {
		t.Fatal(err)
	}
	w.wantTXT(name, "v=spf1 mx -all", "site-verification=abc")
	w.wantTXT("_dmarc."+name, "v=DMARC1; p=reject")
	for _, k := range d.Keys {
		w.wantTXT(dkim.RecordName(k.Selector, name))
	}

	bare := w.name("bare")
	d = w.add(bare)
	w.wantTXT(bare, "v=spf1 ip4:127.0.0.2 ~all")
	w.wantTXT("_dmarc."+bare, "v=DMARC1; p=none")
	if rep := w.checks.Check(ctx, d, w.clock.Now()); !rep.OK {
		t.Fatalf("check of %s: %+v", bare, rep)
	}
	if err := w.pub.Unpublish(ctx, bare); err != nil {
		t.Fatal(err)
	}
	w.wantTXT(bare)
	w.wantTXT("_dmarc." + bare)
	if d, _ := w.store.GetDomain(ctx, bare); len(d.Published) != 0 {
		t.Fatalf("still owned after Unpublish: %+v", d.Published)
	}
}
