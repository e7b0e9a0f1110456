package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sendpool/internal/sandbox"
)

// The hosting server's Postfix sends everything to its smarthost over
// TLS, logged in; the relay beside sendpool in that workload serves
// STARTTLS and relays only for the account that logs in; a signing relay
// passes its mail through the milter.
func TestPostfixConfigSmarthost(t *testing.T) {
	cert := &relayCert{CertFile: "/c.pem", KeyFile: "/k.pem"}
	for _, tc := range []struct {
		name  string
		o     postfixOptions
		want  []string
		files map[string]string
	}{
		{"hosting", postfixOptions{Name: "hosting", Relayhost: "127.0.0.1:2700", RelayUser: "bench", RelayPassword: "bench-password"},
			[]string{"myhostname = hosting.bench.test", "relayhost = [127.0.0.1]:2700", "smtp_tls_security_level = encrypt",
				"smtp_sasl_auth_enable = yes", "smtp_sasl_password_maps = texthash:{{dir}}/conf/sasl_passwd",
				"smtp_sasl_tls_security_options = noanonymous", "smtpd_relay_restrictions = permit_mynetworks, reject"},
			map[string]string{"sasl_passwd": "[127.0.0.1]:2700 bench:bench-password\n"}},
		{"relay", postfixOptions{Name: "relay", Cert: cert, SASLUser: "bench", SASLPassword: "x", Milter: "inet:127.0.0.1:2800"},
			[]string{"transport_maps = texthash:", "smtpd_tls_cert_file = /c.pem", "smtpd_tls_key_file = /k.pem",
				"smtpd_sasl_auth_enable = yes", "cyrus_sasl_config_path = {{dir}}/conf/sasl",
				"smtpd_relay_restrictions = permit_sasl_authenticated, reject",
				"smtpd_milters = inet:127.0.0.1:2800", "non_smtpd_milters = $smtpd_milters"},
			map[string]string{"sasl/smtpd.conf": "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN\nsasldb_path: {{dir}}/sasldb/sasldb2\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := writePostfixConfig(dir, "127.0.0.1:2600", tc.o); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "conf", "main.cf"))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(b), "\n")
			for _, want := range tc.want {
				want = strings.ReplaceAll(want, "{{dir}}", dir)
				found := false
				for _, l := range lines {
					found = found || strings.HasPrefix(l, want)
				}
				if !found {
					t.Errorf("main.cf lacks %q:\n%s", want, b)
				}
			}
			for name, want := range tc.files {
				got, err := os.ReadFile(filepath.Join(dir, "conf", name))
				if err != nil {
					t.Fatal(err)
				}
				if want = strings.ReplaceAll(want, "{{dir}}", dir); string(got) != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestTransmissionDelay(t *testing.T) {
	for line, want := range map[string]time.Duration{
		"Dec 07 06:18:46 hosting postfix/smtp[8902]: 479C99B8496: to=<u1@outlook.test>, relay=127.0.0.1[127.0.0.1]:30441, delay=1, delays=0.28/0.19/0.54/0.014, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 06h4)": 14 * time.Millisecond,
		"Dec 07 06:18:46 hosting postfix/smtp[8902]: 479C99B8496: to=<u1@outlook.test>, relay=127.0.0.1[127.0.0.1]:30441, delay=1, delays=0.28/0.19/0.54/0, dsn=2.0.0, status=sent (250 ok)":                           0,
		"Dec 07 06:18:46 hosting postfix/smtp[8902]: 479C99B8496: to=<u1@outlook.test>, relay=127.0.0.1[127.0.0.1]:30441, delay=1, delays=0.28/0.19/0.54/0.2, dsn=4.0.0, status=deferred (451 later)":                  -1,
		"Dec 07 06:18:46 hosting postfix/qmgr[8902]: 479C99B8496: removed": -1,
	} {
		d, ok := transmissionDelay(line)
		if want < 0 {
			if ok {
				t.Errorf("%q: %v, want none", line, d)
			}
			continue
		}
		if !ok || d.Round(time.Microsecond) != want {
			t.Errorf("%q: %v %v, want %v", line, d, ok, want)
		}
	}
}

func TestZoneTXT(t *testing.T) {
	zone := "bench._domainkey\tIN\tTXT\t( \"v=DKIM1; h=sha256; k=rsa; \"\n\t  \"p=MIIB\"\n\t  \"IDAQAB\" )  ; ----- DKIM key bench for bench.test\n"
	if got, want := zoneTXT(zone), "v=DKIM1; h=sha256; k=rsa; p=MIIBIDAQAB"; got != want {
		t.Errorf("zoneTXT = %q, want %q", got, want)
	}
}

func TestParseFlags(t *testing.T) {
	cl, err := parseClients("plain, postfix")
	if err != nil || strings.Join(cl, ",") != "plain,postfix" {
		t.Errorf("parseClients = %v, %v", cl, err)
	}
	if _, err := parseClients("plain,smtp"); err == nil {
		t.Error(`parseClients("plain,smtp") accepted`)
	}
	ws, err := parseSizes("10KB,100KB")
	if err != nil || len(ws) != 2 || ws[0].Size != 10<<10 || ws[1].Size != 100<<10 || ws[1].SizeText != "100KB" {
		t.Errorf("parseSizes = %+v, %v", ws, err)
	}
	for _, bad := range []string{"0KB", "ten", "10KB,"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) accepted", bad)
		}
	}
}

// The comparison pairs each sendpool run with Postfix of the same
// workload, with OpenDKIM when it signs; the targets are judged on the
// plain client and say which were not measured.
func TestReport(t *testing.T) {
	wl := workload{Size: 10 << 10, SizeText: "10KB", Client: clientPlain}
	fig := func(name, side, dkim string, signs bool, e2e float64, p99 time.Duration) *Figures {
		return &Figures{Name: name, Side: side, Work: wl, DKIM: dkim, Signs: signs, Accepted: 100, Delivered: 100,
			E2ERate: e2e, P50: p99 / 2, P99: p99, PeakRSSKB: 100 << 10, CPUPer1000: 2, Sinks: sinkStats(100, signs)}
	}
	pf := fig("postfix", sidePostfix, "off", false, 100, 80*time.Millisecond)
	pfd := fig("postfix + OpenDKIM", sidePostfix, "opendkim", true, 50, 90*time.Millisecond)
	pfd.MilterCPUPer1000 = 1
	off := fig("sendpool, no DKIM", sideSendpool, "off", false, 450, 20*time.Millisecond)
	rsa := fig("sendpool, DKIM RSA", sideSendpool, "rsa", true, 150, 60*time.Millisecond)
	runs := []*Figures{pf, pfd, off, rsa}
	if baselineOf(off, runs) != pf || baselineOf(rsa, runs) != pfd {
		t.Error("baselines paired wrongly")
	}
	var out bytes.Buffer
	printComparison(&out, runs)
	for _, want := range []string{"4.50×", "3.00×", "3.00 (2.00+1.00)", "1.50×"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("comparison lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	printTargets(&out, 20, runs)
	for _, want := range []string{
		"[met] end-to-end ≥ 4× Postfix at 10 KB, plain client, no DKIM: 4.50×",
		"[NOT MET] end-to-end ≥ 4× Postfix + OpenDKIM, RSA-2048 at 10 KB, plain client: 3.00×",
		"[not measured] end-to-end ≥ 2× Postfix at 100 KB",
		"[NOT MET] accept p99 < 50 ms (10KB plain): 60.0 ms at worst (sendpool, DKIM RSA)",
		"[met] peak RSS < 300 MB: 100 MB",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("targets lack %q:\n%s", want, out.String())
		}
	}
}

// sinkStats is n arrivals parsed, all signed when signed.
func sinkStats(n int, signed bool) sandbox.ParseStats {
	s := sandbox.ParseStats{Parsed: n}
	if signed {
		s.Signed = n
	}
	return s
}
