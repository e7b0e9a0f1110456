package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/dns"
	"sendpool/internal/httpout"
	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
	"sendpool/internal/state/memory"
	"sendpool/internal/state/redis"
	"sendpool/internal/testclock"
	"sendpool/internal/testenv"
)

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		txt     string
		rpt, ok bool
		rua     []string
	}{
		{"v=TLSRPTv1; rua=mailto:reports@example.com", true, true, []string{"mailto:reports@example.com"}},
		{"v=TLSRPTv1;rua=https://reporting.example.com/v1/tlsrpt", true, true, []string{"https://reporting.example.com/v1/tlsrpt"}},
		{"v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/x;", true, true,
			[]string{"mailto:a@example.com", "https://r.example.com/x"}},
		{"v=TLSRPTv1; ext=1; rua=mailto:a@example.com?subject=tls", true, true, []string{"mailto:a@example.com?subject=tls"}},
		{"v=TLSRPTv1; rua=http://insecure.example.com/,mailto:a@example.com", true, true, []string{"mailto:a@example.com"}},
		{"v=TLSRPTv1; rua=http://insecure.example.com/", true, false, nil},
		{"v=TLSRPTv1", true, false, nil},
		{"v=TLSRPTv1; rua=mailto:nobody", true, false, nil},
		{"v=TLSRPTv1; rua", true, false, nil},
		{"v=spf1 -all", false, true, nil},
		{"v=TLSRPTv2; rua=mailto:a@example.com", false, true, nil},
	} {
		r, rpt, err := ParseRecord(tc.txt)
		if rpt != tc.rpt || (err == nil) != tc.ok || strings.Join(r.RUA, " ") != strings.Join(tc.rua, " ") {
			t.Errorf("%q: %+v rpt=%v err=%v", tc.txt, r, rpt, err)
		}
	}
}

// fixture is Reports over a sandbox DNS server, on the test clock, with
// reports by mail caught and by HTTPS received by a loopback endpoint
// with a certificate from a local CA.
type fixture struct {
	t       *testing.T
	clock   *testclock.Clock
	dns     *sandbox.DNSServer
	state   State
	res     *dns.Client
	client  *http.Client
	queued  chan *queue.Message
	posted  chan []byte
	postURL string
	srvTLS  *tls.Config
}

type queueFunc func(*queue.Message) error

func (f queueFunc) Put(_ context.Context, m *queue.Message) error { return f(m) }

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, clock: testclock.New(), queued: make(chan *queue.Message, 10), posted: make(chan []byte, 10)}
	var err error
	if f.dns, err = sandbox.NewDNSServer("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.dns.Close() })
	if f.res, err = dns.New([]string{f.dns.Addr()}, dns.Options{Cache: dns.NoCache{}}); err != nil {
		t.Fatal(err)
	}
	f.state = memory.New(f.clock.Now)

	ca, err := sandbox.NewCA("report endpoint CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("reports.receiver.test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != ContentType {
			http.Error(w, "want a POST of "+ContentType, http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(r.Body)
		f.posted <- b
	}))
	f.srvTLS = sandbox.ServerTLS(cert)
	srv.TLS = f.srvTLS
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	f.postURL = "https://reports.receiver.test:" + port + "/v1/tlsrpt"
	f.dns.SetA("reports.receiver.test", "127.0.0.1")
	f.client = httpout.New(httpout.Config{Resolver: f.res, Roots: ca.Pool(),
		Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	return f
}

func (f *fixture) reports() *Reports {
	return New(Config{
		State: f.state, Resolver: f.res, Period: 24 * time.Hour,
		Organization: "relay.sendpool.test", From: "tlsrpt@sendpool.test",
		Queue: queueFunc(func(m *queue.Message) error { f.queued <- m; return nil }), MaxQueueTime: time.Hour,
		HTTP: f.client, Now: f.clock.Now,
	})
}

// gunzipJSON decodes a gzipped report into generic JSON, so that the
// test reads the field names as they are on the wire.
func gunzipJSON(t *testing.T, gz []byte) map[string]any {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatalf("%v: %s", err, js)
	}
	return v
}

var stsPolicy = Policy{Type: PolicySTS, Domain: "receiver.test",
	Strings: []string{"version: STSv1", "mode: testing", "mx: *.receiver.test", "max_age: 86400"},
	MXHosts: []string{"*.receiver.test"}}

var tlsaPolicy = Policy{Type: PolicyTLSA, Domain: "receiver.test",
	Strings: []string{"3 1 1 aabbcc"}, MXHosts: []string{"mx2.receiver.test"}}

// recordDay records a day of mixed results for receiver.test.
func recordDay(r *Reports) {
	for range 5 {
		r.Record(Result{Policy: stsPolicy, SendingIP: "192.0.2.1", MXHost: "mx1.receiver.test", ReceivingIP: "198.51.100.1"})
	}
	for range 3 {
		r.Record(Result{Policy: stsPolicy, Failure: ResultCertHostMismatch, SendingIP: "192.0.2.1",
			MXHost: "mx1.receiver.test", ReceivingIP: "198.51.100.1", Reason: "x509: certificate is valid for other.test"})
	}
	r.Record(Result{Policy: stsPolicy, Failure: ResultSTARTTLSNotSupported, SendingIP: "192.0.2.2",
		MXHost: "mx1.receiver.test", ReceivingIP: "198.51.100.1"})
	r.Record(Result{Policy: tlsaPolicy, SendingIP: "192.0.2.1", MXHost: "mx2.receiver.test", ReceivingIP: "198.51.100.2"})
	r.Record(Result{Policy: tlsaPolicy, Failure: "tlsa-invalid", SendingIP: "192.0.2.1", MXHost: "mx2.receiver.test",
		ReceivingIP: "198.51.100.2"})
	// Another domain that asks for no reports: counted, then dropped.
	r.Record(Result{Policy: Policy{Type: PolicyNotFound, Domain: "quiet.test"}, SendingIP: "192.0.2.1", MXHost: "mx.quiet.test"})
}

// TestReportOfADay: a day of mixed results, counted on two nodes, makes
// one report per URI the next day; its JSON is checked field by field
// against RFC 8460 §4.4, the mail against §5.3, the POST against §5.4.
func TestReportOfADay(t *testing.T) {
	f := newFixture(t)
	f.dns.SetTXT("_smtp._tls.receiver.test", "v=TLSRPTv1; rua=mailto:tls-reports@receiver.test,"+f.postURL)
	day := f.clock.Now().UTC().Truncate(24 * time.Hour)
	a, b := f.reports(), f.reports()
	recordDay(a)
	b.Record(Result{Policy: stsPolicy, SendingIP: "192.0.2.3", MXHost: "mx1.receiver.test", ReceivingIP: "198.51.100.1"})
	for _, r := range []*Reports{a, b} {
		if err := r.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	a.SendDue(t.Context())
	if len(f.queued)+len(f.posted) != 0 {
		t.Fatal("a report was sent before its day ended")
	}

	f.clock.Set(day.Add(24*time.Hour + 5*time.Minute))
	a.SendDue(t.Context())
	b.SendDue(t.Context()) // a holds the lease: b sends nothing
	a.SendDue(t.Context()) // sent already: nothing again
	if len(f.queued) != 1 || len(f.posted) != 1 {
		t.Fatalf("%d reports by mail, %d by POST; want one each", len(f.queued), len(f.posted))
	}
	posted := gunzipJSON(t, <-f.posted)
	m := <-f.queued
	if !m.TLSOptional || m.From != "tlsrpt@sendpool.test" || len(m.Recipients) != 1 || m.Recipients[0] != "tls-reports@receiver.test" {
		t.Errorf("queued %+v", m)
	}
	mailed := gunzipJSON(t, attachment(t, m.Body, day))
	checkReport(t, posted, day)
	checkReport(t, mailed, day)
}

// attachment checks the report mail's form (RFC 8460 §5.3) and returns
// its gzipped report.
func attachment(t *testing.T, body []byte, day time.Time) []byte {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	if got := h.Get("TLS-Report-Domain"); got != "receiver.test" {
		t.Errorf("TLS-Report-Domain %q", got)
	}
	if got := h.Get("TLS-Report-Submitter"); got != "sendpool.test" {
		t.Errorf("TLS-Report-Submitter %q", got)
	}
	if s := h.Get("Subject"); !strings.HasPrefix(s, "Report Domain: receiver.test Submitter: sendpool.test Report-ID: <") ||
		!strings.HasSuffix(s, "@sendpool.test>") {
		t.Errorf("Subject %q", s)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q", h.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var gz []byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Type") != ContentType {
			continue
		}
		want := "sendpool.test!receiver.test!" + itoa(day.Unix()) + "!" + itoa(day.Add(24*time.Hour).Unix()) + ".json.gz"
		if p.FileName() != want {
			t.Errorf("file name %q, want %q (§5.1)", p.FileName(), want)
		}
		b, _ := io.ReadAll(p)
		if gz, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(string(b), "\r\n", "")); err != nil {
			t.Fatal(err)
		}
	}
	if gz == nil {
		t.Fatal("no " + ContentType + " part")
	}
	return gz
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// checkReport reads a report field by field, as RFC 8460 §4.4 names them.
func checkReport(t *testing.T, r map[string]any, day time.Time) {
	t.Helper()
	str := func(m map[string]any, k string) string {
		v, ok := m[k].(string)
		if !ok {
			t.Errorf("field %q: %v, want a string", k, m[k])
		}
		return v
	}
	num := func(m map[string]any, k string) int64 {
		v, ok := m[k].(float64)
		if !ok {
			t.Errorf("field %q: %v, want a number", k, m[k])
		}
		return int64(v)
	}
	if got := str(r, "organization-name"); got != "relay.sendpool.test" {
		t.Errorf("organization-name %q", got)
	}
	if got := str(r, "contact-info"); got != "tlsrpt@sendpool.test" {
		t.Errorf("contact-info %q", got)
	}
	if str(r, "report-id") == "" {
		t.Error("no report-id")
	}
	dr, _ := r["date-range"].(map[string]any)
	if str(dr, "start-datetime") != day.Format("2006-01-02")+"T00:00:00Z" || str(dr, "end-datetime") != day.Format("2006-01-02")+"T23:59:59Z" {
		t.Errorf("date-range %v", dr)
	}
	policies, _ := r["policies"].([]any)
	if len(policies) != 2 {
		t.Fatalf("%d policies, want 2 (sts, tlsa; quiet.test asked for none): %v", len(policies), policies)
	}
	seen := map[string]bool{}
	for _, pv := range policies {
		p := pv.(map[string]any)
		pol := p["policy"].(map[string]any)
		summary := p["summary"].(map[string]any)
		details, _ := p["failure-details"].([]any)
		typ := str(pol, "policy-type")
		seen[typ] = true
		if str(pol, "policy-domain") != "receiver.test" {
			t.Errorf("policy-domain %v", pol["policy-domain"])
		}
		strs, _ := pol["policy-string"].([]any)
		hosts, _ := pol["mx-host"].([]any)
		switch typ {
		case "sts":
			if len(strs) != 4 || strs[1] != "mode: testing" || len(hosts) != 1 || hosts[0] != "*.receiver.test" {
				t.Errorf("sts policy %v", pol)
			}
			if num(summary, "total-successful-session-count") != 6 || num(summary, "total-failure-session-count") != 4 {
				t.Errorf("sts summary %v, want 6 successful (5 + 1 from the other node) and 4 failed", summary)
			}
			if len(details) != 2 {
				t.Fatalf("sts failure-details %v", details)
			}
			d0, d1 := details[0].(map[string]any), details[1].(map[string]any)
			if str(d0, "result-type") != "certificate-host-mismatch" || num(d0, "failed-session-count") != 3 ||
				str(d0, "sending-mta-ip") != "192.0.2.1" || str(d0, "receiving-mx-hostname") != "mx1.receiver.test" ||
				str(d0, "receiving-ip") != "198.51.100.1" || !strings.Contains(str(d0, "failure-reason-code"), "x509") {
				t.Errorf("first detail %v", d0)
			}
			if str(d1, "result-type") != "starttls-not-supported" || num(d1, "failed-session-count") != 1 ||
				str(d1, "sending-mta-ip") != "192.0.2.2" {
				t.Errorf("second detail %v", d1)
			}
		case "tlsa":
			if len(strs) != 1 || strs[0] != "3 1 1 aabbcc" || len(hosts) != 1 || hosts[0] != "mx2.receiver.test" {
				t.Errorf("tlsa policy %v", pol)
			}
			if num(summary, "total-successful-session-count") != 1 || num(summary, "total-failure-session-count") != 1 ||
				len(details) != 1 || str(details[0].(map[string]any), "result-type") != "tlsa-invalid" {
				t.Errorf("tlsa %v %v", summary, details)
			}
		default:
			t.Errorf("policy-type %q", typ)
		}
	}
	if !seen["sts"] || !seen["tlsa"] {
		t.Errorf("policy types %v", seen)
	}
}

// TestOneNodeSends: nodes racing for a day's reports send them once, on
// one node's memory state and on Redis shared by all.
func TestOneNodeSends(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testOneNodeSends(t, newFixture(t)) })
	t.Run("redis", func(t *testing.T) {
		f := newFixture(t)
		st, err := redis.Open(t.Context(), testenv.Redis(t), redis.Options{Prefix: "tlsrpt-test:" + randomHex(6) + ":"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		f.state = st
		testOneNodeSends(t, f)
	})
}

func testOneNodeSends(t *testing.T, f *fixture) {
	f.dns.SetTXT("_smtp._tls.receiver.test", "v=TLSRPTv1; rua="+f.postURL)
	day := f.clock.Now().UTC().Truncate(24 * time.Hour)
	nodes := make([]*Reports, 4)
	for i := range nodes {
		nodes[i] = f.reports()
		recordDay(nodes[i])
		if err := nodes[i].Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Set(day.Add(24*time.Hour + 5*time.Minute))
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() { n.SendDue(t.Context()) })
	}
	wg.Wait()
	if len(f.posted) != 1 {
		t.Fatalf("%d reports posted, want 1", len(f.posted))
	}
	r := gunzipJSON(t, <-f.posted)
	for _, pv := range r["policies"].([]any) {
		p := pv.(map[string]any)
		if p["policy"].(map[string]any)["policy-type"] == "tlsa" {
			if got := p["summary"].(map[string]any)["total-successful-session-count"]; got != float64(4) {
				t.Errorf("tlsa successes %v, want 4 (one per node)", got)
			}
		}
	}
}

// TestFailedPostRetried: a report the endpoint refuses is sent again at
// the next pass; a mail already queued is not queued again.
func TestFailedPostRetried(t *testing.T) {
	f := newFixture(t)
	busy := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	busy.TLS = f.srvTLS
	busy.StartTLS()
	defer busy.Close()
	_, busyPort, _ := net.SplitHostPort(busy.Listener.Addr().String())
	f.dns.SetTXT("_smtp._tls.receiver.test", "v=TLSRPTv1; rua=mailto:tls@receiver.test,"+f.postURL)
	r := f.reports()
	recordDay(r)
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	day := f.clock.Now().UTC().Truncate(24 * time.Hour)
	f.clock.Set(day.Add(24*time.Hour + 5*time.Minute))
	// The endpoint is busy: the record points at one that answers 503.
	f.dns.SetTXT("_smtp._tls.receiver.test", "v=TLSRPTv1; rua=mailto:tls@receiver.test,https://reports.receiver.test:"+busyPort+"/")
	r.SendDue(t.Context())
	if len(f.queued) != 1 || len(f.posted) != 0 {
		t.Fatalf("first pass: %d mailed, %d posted", len(f.queued), len(f.posted))
	}
	f.dns.SetTXT("_smtp._tls.receiver.test", "v=TLSRPTv1; rua=mailto:tls@receiver.test,"+f.postURL)
	f.clock.Add(time.Minute)
	r.SendDue(t.Context())
	if len(f.queued) != 1 || len(f.posted) != 1 {
		t.Fatalf("second pass: %d mailed (want 1: not again), %d posted (want 1)", len(f.queued), len(f.posted))
	}
}
