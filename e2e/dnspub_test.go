package e2e

import (
	"fmt"
	mrand "math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"sendpool/internal/testenv"
)

// A domain inside a zone sendpool publishes in: `domain add` publishes its
// records (the customer's SPF merged, not doubled; DMARC where none was),
// `domain check` turns ok with no manual step, and `domain rm` deletes what
// sendpool published and nothing else. dig is the judge.

func TestDNSPublishBind(t *testing.T) {
	b := testenv.BindServer(t)
	zone := fmt.Sprintf(`
[[dns.publish]]
zone = %q
method = "rfc2136"
server = %q
tsig_name = %q
tsig_algorithm = "hmac-sha256"
tsig_secret = %q
nameservers = [%q]
`, b.Zone, b.Addr, b.KeyName, b.Secret, b.Addr)
	testDNSPublish(t, b.Zone, b.Addr, zone, func(name string, values ...string) {
		host, port, _ := strings.Cut(b.Addr, ":")
		var in strings.Builder
		fmt.Fprintf(&in, "server %s %s\nzone %s\n", host, port, b.Zone)
		for _, v := range values {
			fmt.Fprintf(&in, "update add %s. 300 TXT %q\n", name, v)
		}
		in.WriteString("send\n")
		cmd := exec.Command("nsupdate", "-y", "hmac-sha256:"+b.KeyName+":"+b.Secret)
		cmd.Stdin = strings.NewReader(in.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nsupdate: %v\n%s", err, out)
		}
	})
}

func TestDNSPublishPowerDNS(t *testing.T) {
	p := testenv.PDNSServer(t)
	zone := fmt.Sprintf(`
[[dns.publish]]
zone = %q
method = "pdns"
url = %q
api_key = %q
server_id = "localhost"
nameservers = [%q]
`, p.Zone, p.URL, p.APIKey, p.Addr)
	testDNSPublish(t, p.Zone, p.Addr, zone, func(name string, values ...string) { p.SetTXT(t, name, values...) })
}

func testDNSPublish(t *testing.T, zone, server, publish string, preset func(name string, values ...string)) {
	spfHost := fmt.Sprintf("_spf%d.%s", mrand.IntN(1e9), zone)
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, publish+fmt.Sprintf("[dkim]\nspf_host = %q\n", spfHost))
	e.serve()
	shop := fmt.Sprintf("shop%d.%s", mrand.IntN(1e9), zone)
	preset(shop, "v=spf1 a -all", "site-verification=shop")
	e.addAccount("shop", "pw-shop-secret-1", shop)
	ctx := t.Context()

	// sendpool's own SPF record follows the pool from the start.
	var ips []string
	for _, ip := range e.world.PoolIPs {
		ips = append(ips, "ip4:"+ip.Address)
	}
	wantDig(t, server, spfHost, "v=spf1 "+strings.Join(ips, " ")+" -all")

	info, err := e.api().AddDomain(ctx, shop, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if info.PublishError != "" {
		t.Fatalf("publish error: %s", info.PublishError)
	}
	var dkimNames []string
	for _, r := range info.Records {
		switch r.Purpose {
		case "spf", "dkim", "dmarc":
			if !r.Published || r.Publisher == "" {
				t.Errorf("record %s %s: published %v by %q", r.Purpose, r.Name, r.Published, r.Publisher)
			}
		}
		if r.Purpose == "dkim" {
			dkimNames = append(dkimNames, r.Name)
			wantDig(t, server, r.Name, r.Value)
		}
	}
	if len(dkimNames) != 2 {
		t.Fatalf("DKIM records: %v, want both selectors", dkimNames)
	}
	wantDig(t, server, shop, "site-verification=shop", "v=spf1 a include:"+spfHost+" -all")
	wantDig(t, server, "_dmarc."+shop, "v=DMARC1; p=none; rua=mailto:dmarc@"+shop)

	rep, err := e.api().CheckDomain(ctx, shop)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("domain check after add: %+v", rep)
	}

	if out, code := e.adminCLI("domain", "rm", shop); code != 0 {
		t.Fatalf("domain rm: exit %d\n%s", code, out)
	}
	wantDig(t, server, shop, "site-verification=shop", "v=spf1 a -all")
	wantDig(t, server, "_dmarc."+shop)
	for _, n := range dkimNames {
		wantDig(t, server, n)
	}
	wantDig(t, server, spfHost, "v=spf1 "+strings.Join(ips, " ")+" -all")
}

// wantDig asks server with the real dig for name's TXT records.
func wantDig(t *testing.T, server, name string, want ...string) {
	t.Helper()
	host, port, _ := strings.Cut(server, ":")
	out, err := exec.Command("dig", "+short", "+tcp", "-p", port, "@"+host, name, "TXT").CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s: %v\n%s", name, err, out)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" {
			// One record's quoted strings joined: "a" "b" → ab.
			got = append(got, strings.ReplaceAll(strings.Trim(line, `"`), `" "`, ""))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("dig @%s %s TXT:\n got %q\nwant %q", server, name, got, want)
	}
}
