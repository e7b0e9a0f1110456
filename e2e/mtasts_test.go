package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
)

// The receivers of the MTA-STS test: three announce an enforced policy
// (one without STARTTLS, one with a certificate for another name, one
// right), one a policy in testing (its certificate for another name),
// and the sender's and the reports' own domains.
var stsDomains = map[string]string{
	"nostarttls.test": "127.0.0.11", "wrongname.test": "127.0.0.12", "good.test": "127.0.0.13",
	"shop1.test": "127.0.0.14", "trial.test": "127.0.0.15", "reports.test": "127.0.0.16",
}

// tlsWorld gives the world a CA its sinks present certificates from, and
// an MTA-STS policy server on 127.0.0.10:port; it returns the config
// lines that make the node trust the CA and ask that port.
func tlsWorld(t *testing.T) (*sandbox.CA, string, func(*sandbox.WorldConfig)) {
	t.Helper()
	ca, err := sandbox.NewCA("e2e CA")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := ca.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := fmt.Sprintf("tls_ca_file = %q\nmta_sts_port = %d\n", caFile, port)
	return ca, conf, func(wc *sandbox.WorldConfig) {
		wc.CA = ca
		wc.STSAddr = fmt.Sprintf("127.0.0.10:%d", port)
	}
}

// reportEndpoint is an HTTPS endpoint for TLS reports (RFC 8460 §5.4),
// with a certificate from ca for rpt.reports.test; it returns the URL
// and the bodies posted.
func reportEndpoint(t *testing.T, ca *sandbox.CA, w *sandbox.World) (string, chan []byte) {
	t.Helper()
	cert, err := ca.Issue("rpt.reports.test")
	if err != nil {
		t.Fatal(err)
	}
	posted := make(chan []byte, 10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/tlsrpt+gzip" {
			http.Error(rw, "want a POST of application/tlsrpt+gzip", http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(r.Body)
		posted <- b
	}))
	srv.TLS = sandbox.ServerTLS(cert)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	w.DNS.SetA("rpt.reports.test", "127.0.0.1")
	return "https://rpt.reports.test:" + port + "/tlsrpt", posted
}

// report is a TLS report as the test reads it: generic JSON.
type report map[string]any

func gunzipReport(t *testing.T, gz []byte) report {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("report is not gzip: %v", err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(js, &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, js)
	}
	return r
}

// policy returns the report's policy of type typ, its summary and its
// failure details.
func (r report) policy(t *testing.T, typ string) (pol, summary map[string]any, details []map[string]any) {
	t.Helper()
	ps, _ := r["policies"].([]any)
	for _, p := range ps {
		p := p.(map[string]any)
		if pol = p["policy"].(map[string]any); pol["policy-type"] == typ {
			summary = p["summary"].(map[string]any)
			ds, _ := p["failure-details"].([]any)
			for _, d := range ds {
				details = append(details, d.(map[string]any))
			}
			return pol, summary, details
		}
	}
	t.Fatalf("report has no %s policy: %v", typ, r)
	return nil, nil, nil
}

// mailedReport takes the gzipped report out of a report mail (§5.3).
func mailedReport(t *testing.T, m sandbox.Message) (mail.Header, report) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("report mail Content-Type %q", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no application/tlsrpt+gzip part: %v", err)
		}
		if p.Header.Get("Content-Type") == "application/tlsrpt+gzip" {
			b, _ := io.ReadAll(p)
			gz, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
			if err != nil {
				t.Fatal(err)
			}
			return msg.Header, gunzipReport(t, gz)
		}
	}
}

// TestMTASTS runs the binary against receivers with MTA-STS policies
// served over HTTPS by the world's policy server: an enforced policy
// lets mail go only over TLS with a certificate valid for the MX name
// (else it waits, then bounces with a DSN that says why); a policy in
// testing delivers and reports; the TLS reports of the period arrive by
// mail and by HTTPS POST.
func TestMTASTS(t *testing.T) {
	ca, tlsConf, withCA := tlsWorld(t)
	e := newEnv(t, stsDomains, tlsConf+`retry = ["1s"]
max_queue_time = "6s"
tls_rpt_period = "4s"
tls_rpt_from = "tlsrpt@relay.sendpool.test"`, withCA)
	w := e.world
	w.Sink("nostarttls.test").SetTLS(nil)
	other, err := ca.Issue("mx.other.test")
	if err != nil {
		t.Fatal(err)
	}
	w.Sink("wrongname.test").SetTLS(sandbox.ServerTLS(other))
	w.Sink("trial.test").SetTLS(sandbox.ServerTLS(other))
	for _, d := range []string{"nostarttls.test", "wrongname.test", "good.test"} {
		if err := w.PublishSTS(d, "version: STSv1\nmode: enforce\nmx: mx."+d+"\nmax_age: 86400\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.PublishSTS("trial.test", "version: STSv1\nmode: testing\nmx: *.trial.test\nmax_age: 86400\n"); err != nil {
		t.Fatal(err)
	}
	postURL, posted := reportEndpoint(t, ca, w)
	for _, d := range []string{"trial.test", "nostarttls.test"} {
		w.PublishTLSRPT(d, "mailto:tlsrpt@reports.test,"+postURL)
	}

	p := e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	// The service's own domain has DKIM keys: its reports are signed.
	e.addAccount("ops", "pw-ops-secret-1", "relay.sendpool.test")
	if _, err := e.api().AddDomain(context.Background(), "relay.sendpool.test", "ops"); err != nil {
		t.Fatal(err)
	}
	rcpts := []string{"a@nostarttls.test", "b@wrongname.test", "c@good.test", "d@trial.test"}
	if err := submit(e.smtp, "shop1", "pw-shop1-secret", sender, rcpts, message(sender, "c@good.test", "sts1")); err != nil {
		t.Fatal(err)
	}
	id := e.idOf(sender, 1)

	// Enforced and right: delivered over verified TLS.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, d := range []string{"good.test", "trial.test"} {
		if err := w.Sink(d).WaitMessages(ctx, 1); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		if m := w.Sink(d).Messages(); !m[0].TLS {
			t.Errorf("%s got the message without TLS", d)
		}
	}

	// Enforced and wrong: never delivered; bounced at max_queue_time with
	// a DSN that says why.
	var dsnText strings.Builder
	waitFor(t, 30*time.Second, "DSNs for both refused recipients", func() bool {
		dsnText.Reset()
		n := 0
		for _, m := range w.Sink("shop1.test").Messages() {
			d := parseDSN(t, m)
			n += len(d.perRcpt)
			for _, r := range d.perRcpt {
				dsnText.WriteString(r.Get("Final-Recipient") + " " + r.Get("Diagnostic-Code") + "\n")
			}
		}
		return n == 2
	})
	for _, want := range []string{"a@nostarttls.test", "does not offer STARTTLS", "b@wrongname.test",
		"certificate", "MTA-STS policy", "not sent in plaintext"} {
		if !strings.Contains(dsnText.String(), want) {
			t.Errorf("DSNs do not say %q:\n%s", want, dsnText.String())
		}
	}
	for _, d := range []string{"nostarttls.test", "wrongname.test"} {
		if n, _ := w.Sink(d).Received(); n != 0 {
			t.Errorf("%s received %d messages", d, n)
		}
	}

	// Each attempt's TLS, in the API.
	m, err := e.api().Message(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Recipients {
		if len(r.Attempts) == 0 {
			t.Fatalf("%s: no attempt", r.Address)
		}
		a := r.Attempts[0].TLS
		switch r.Address {
		case "c@good.test":
			if a != (queue.TLS{Version: "TLS 1.3", Verified: true, Policy: "mta-sts"}) || r.Status != queue.StatusDelivered {
				t.Errorf("%s: %s %+v", r.Address, r.Status, a)
			}
		case "d@trial.test":
			if a.Version == "" || a.Verified || a.Policy != "mta-sts-testing" || a.Failure != "certificate-host-mismatch" {
				t.Errorf("%s: %+v", r.Address, a)
			}
		case "a@nostarttls.test", "b@wrongname.test":
			if r.Status != queue.StatusBounced || r.Attempts[0].Category != "tls" || a.Version != "" || a.Policy != "mta-sts" {
				t.Errorf("%s: %s %+v %q", r.Address, r.Status, r.Attempts[0], r.Attempts[0].Response)
			}
		}
	}

	// The period's reports: by POST and by mail, one each per domain.
	got := map[string]report{}
	deadline := time.After(30 * time.Second)
	for len(got) < 2 {
		select {
		case b := <-posted:
			r := gunzipReport(t, b)
			pol, _, _ := r.policy(t, "sts")
			got[pol["policy-domain"].(string)] = r
		case <-deadline:
			t.Fatalf("reports posted for %v only\n%s", slices.Collect(mapKeys(got)), p.out.String())
		}
	}
	_, summary, details := got["trial.test"].policy(t, "sts")
	if summary["total-successful-session-count"] != 0.0 || summary["total-failure-session-count"].(float64) < 1 ||
		len(details) != 1 || details[0]["result-type"] != "certificate-host-mismatch" ||
		details[0]["receiving-mx-hostname"] != "mx.trial.test" || details[0]["receiving-ip"] != "127.0.0.15" {
		t.Errorf("trial.test report: %v %v", summary, details)
	}
	// One detail per sending IP that met the failure (§4.4).
	pol, _, details := got["nostarttls.test"].policy(t, "sts")
	if len(details) == 0 || !slices.Contains(pol["policy-string"].([]any), any("mode: enforce")) {
		t.Errorf("nostarttls.test report: %v %v", pol, details)
	}
	for _, d := range details {
		if d["result-type"] != "starttls-not-supported" || d["receiving-mx-hostname"] != "mx.nostarttls.test" || d["sending-mta-ip"] == nil {
			t.Errorf("nostarttls.test detail %v", d)
		}
	}
	if err := w.Sink("reports.test").WaitMessages(ctx, 2); err != nil {
		t.Fatalf("report mails: %v", err)
	}
	for _, m := range w.Sink("reports.test").Messages() {
		h, r := mailedReport(t, m)
		dom := h.Get("TLS-Report-Domain")
		if h.Get("TLS-Report-Submitter") != "relay.sendpool.test" || got[dom] == nil || m.From != "tlsrpt@relay.sendpool.test" {
			t.Errorf("report mail %v from %s", h, m.From)
		}
		if r["contact-info"] != "tlsrpt@relay.sendpool.test" || r["organization-name"] != "relay.sendpool.test" {
			t.Errorf("mailed report %v", r)
		}
		if sig := h.Get("DKIM-Signature"); !strings.Contains(sig, "d=relay.sendpool.test") {
			t.Errorf("report mail not DKIM-signed by relay.sendpool.test: %q", sig)
		}
	}

	// And in the metrics.
	resp, err := http.Get("http://" + e.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`sendpool_delivery_tls_total{policy="mta-sts",result="verified"} 1`,
		`sendpool_delivery_tls_total{policy="mta-sts-testing",result="certificate-host-mismatch"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(string(b), "sendpool_delivery_tls"))
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
