package deliver

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/dane"
	"sendpool/internal/dns"
	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
	"sendpool/internal/tlspolicy"
	"sendpool/internal/tlsrpt"
)

// fixedPlans gives every domain the same hosts' policies.
type fixedPlans map[string]tlspolicy.Host

func (f fixedPlans) Plan(_ context.Context, domain string, _ []string, exempt bool) *tlspolicy.Plan {
	if exempt {
		return tlspolicy.NewPlan(domain, nil)
	}
	return tlspolicy.NewPlan(domain, f)
}

// reportLog keeps what TLS-RPT was told.
type reportLog struct {
	mu  sync.Mutex
	got []tlsrpt.Result
}

func (l *reportLog) Record(r tlsrpt.Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, r)
}

func (l *reportLog) results() []tlsrpt.Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]tlsrpt.Result(nil), l.got...)
}

var (
	stsReport = &tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: "gmail.test", MXHosts: []string{"mx.gmail.test"}}
	enforced  = tlspolicy.Host{Policy: tlspolicy.MTASTS, RequireTLS: true, Check: tlspolicy.CheckPKIX, Enforce: true, Report: stsReport}
	trial     = tlspolicy.Host{Policy: tlspolicy.MTASTSTesting, Check: tlspolicy.CheckPKIX, Retry: true, Report: stsReport}
)

// tlsWorld is a world whose sink for gmail.test presents cert, a courier
// trusting ca and following plans, and the TLS-RPT log.
func tlsWorld(t *testing.T, cert *tls.Config, plans fixedPlans) (*world, *sandbox.Sink, *Courier, *reportLog, *sandbox.CA) {
	t.Helper()
	ca, err := sandbox.NewCA("deliver test CA")
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{TLS: cert})
	w.mx("gmail.test", "mx.gmail.test")
	log := &reportLog{}
	c := w.courier(func(cfg *Config) {
		cfg.TLS, cfg.TLSReports, cfg.RootCAs = plans, log, ca.Pool()
	})
	return w, s, c, log, ca
}

func issue(t *testing.T, ca *sandbox.CA, names ...string) *tls.Config {
	t.Helper()
	cert, err := ca.Issue(names...)
	if err != nil {
		t.Fatal(err)
	}
	return sandbox.ServerTLS(cert)
}

func wantTLSDeferral(t *testing.T, res queue.Result, failure string, says ...string) {
	t.Helper()
	a := res.Attempt
	if res.Verdict != queue.VerdictDeferred || a.Category != "tls" || a.TLS.Failure != failure || a.TLS.Verified {
		t.Errorf("result %+v, want deferred, category tls, failure %s", res, failure)
	}
	for _, s := range says {
		if !strings.Contains(a.Response, s) {
			t.Errorf("response %q does not say %q", a.Response, s)
		}
	}
}

// TestEnforcedPolicyNeedsSTARTTLS: a host that does not offer STARTTLS
// gets no mail under an enforced policy, in plaintext or otherwise.
func TestEnforcedPolicyNeedsSTARTTLS(t *testing.T) {
	w, s, c, log, _ := tlsWorld(t, nil, fixedPlans{"mx.gmail.test": enforced})
	res := deliver(t, c, w.message("m1", "x\r\n", "a@gmail.test"))
	wantTLSDeferral(t, res[0], "starttls-not-supported", "does not offer STARTTLS", "MTA-STS policy of gmail.test",
		"not sent in plaintext")
	if n, _ := s.Received(); n != 0 {
		t.Errorf("%d messages went through", n)
	}
	if got := log.results(); len(got) != 1 || got[0].Failure != "starttls-not-supported" || got[0].Policy.Type != "sts" ||
		got[0].MXHost != "mx.gmail.test" || got[0].SendingIP == "" || got[0].ReceivingIP != "127.0.0.101" {
		t.Errorf("reported %+v", got)
	}
}

// TestEnforcedPolicyWrongName: a certificate for another name fails the
// connection, with no plaintext retry.
func TestEnforcedPolicyWrongName(t *testing.T) {
	w, s, c, log, tca := tlsWorld(t, nil, fixedPlans{"mx.gmail.test": enforced})
	s.SetTLS(issue(t, tca, "mx.other.test"))
	res := deliver(t, c, w.message("m1", "x\r\n", "a@gmail.test"))
	wantTLSDeferral(t, res[0], "certificate-host-mismatch", "mx.gmail.test", "MTA-STS")
	if n, _ := s.Received(); n != 0 || len(s.Conns()) != 1 {
		t.Errorf("%d messages, %d connections; want none and one (no plaintext retry)", n, len(s.Conns()))
	}
	if got := log.results(); len(got) != 1 || got[0].Failure != "certificate-host-mismatch" {
		t.Errorf("reported %+v", got)
	}
	// A certificate from a CA nobody trusts: not trusted.
	other, _ := sandbox.NewCA("untrusted")
	s.SetTLS(issue(t, other, "mx.gmail.test"))
	res = deliver(t, c, w.message("m2", "x\r\n", "a@gmail.test"))
	wantTLSDeferral(t, res[0], "certificate-not-trusted")
	// An expired one: expired.
	cert, _ := tca.IssueValid(time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour), "mx.gmail.test")
	s.SetTLS(sandbox.ServerTLS(cert))
	res = deliver(t, c, w.message("m3", "x\r\n", "a@gmail.test"))
	wantTLSDeferral(t, res[0], "certificate-expired")
}

// TestEnforcedPolicyValid: a host with a certificate valid for its name
// gets the mail over verified TLS, and the session is reported a success.
func TestEnforcedPolicyValid(t *testing.T) {
	w, s, c, log, ca := tlsWorld(t, nil, fixedPlans{"mx.gmail.test": enforced})
	s.SetTLS(issue(t, ca, "mx.gmail.test"))
	res := deliver(t, c, w.message("m1", "x\r\n", "a@gmail.test"))
	wantVerdict(t, res, queue.VerdictDelivered)
	if got := res[0].Attempt.TLS; got != (queue.TLS{Version: "TLS 1.3", Verified: true, Policy: "mta-sts"}) {
		t.Errorf("attempt TLS %+v", got)
	}
	if m := s.Messages(); len(m) != 1 || !m[0].TLS {
		t.Errorf("messages %+v", m)
	}
	if got := log.results(); len(got) != 1 || got[0].Failure != "" {
		t.Errorf("reported %+v", got)
	}
}

// TestTestingPolicyDeliversAndReports: a policy in testing delivers
// whatever the certificate, says it was not verified, and reports why.
func TestTestingPolicyDeliversAndReports(t *testing.T) {
	w, s, c, log, ca := tlsWorld(t, nil, fixedPlans{"mx.gmail.test": trial})
	s.SetTLS(issue(t, ca, "mx.other.test"))
	res := deliver(t, c, w.message("m1", "x\r\n", "a@gmail.test"))
	wantVerdict(t, res, queue.VerdictDelivered)
	if got := res[0].Attempt.TLS; got.Version == "" || got.Verified || got.Policy != "mta-sts-testing" ||
		got.Failure != "certificate-host-mismatch" {
		t.Errorf("attempt TLS %+v", got)
	}
	if m := s.Messages(); len(m) != 1 || !m[0].TLS {
		t.Errorf("messages %+v", m)
	}
	if got := log.results(); len(got) != 1 || got[0].Failure != "certificate-host-mismatch" ||
		!strings.Contains(got[0].Reason, "mx.gmail.test") {
		t.Errorf("reported %+v", got)
	}
	// No STARTTLS at all: delivered in plaintext, reported (a new
	// courier: the first one keeps its TLS connection a while).
	s.SetTLS(nil)
	c = w.courier(func(cfg *Config) { cfg.TLS, cfg.TLSReports = fixedPlans{"mx.gmail.test": trial}, log })
	res = deliver(t, c, w.message("m2", "x\r\n", "a@gmail.test"))
	wantVerdict(t, res, queue.VerdictDelivered)
	if got := log.results(); len(got) != 2 || got[1].Failure != "starttls-not-supported" {
		t.Errorf("reported %+v", got)
	}
}

// TestDANE: a host whose TLSA record matches its key gets the mail over
// verified TLS; one whose records match nothing gets none.
func TestDANE(t *testing.T) {
	w, s, _, log, ca := tlsWorld(t, nil, nil)
	cfg := issue(t, ca, "mx.gmail.test")
	s.SetTLS(cfg)
	spki := sha256.Sum256(cfg.Certificates[0].Leaf.RawSubjectPublicKeyInfo)
	good := dns.TLSA{Usage: dane.UsageDANEEE, Selector: dane.SelectorSPKI, MatchingType: dane.MatchSHA256, Data: spki[:]}
	bad := good
	bad.Data = make([]byte, 32)
	host := func(r dns.TLSA) tlspolicy.Host {
		return tlspolicy.Host{Policy: tlspolicy.DANE, RequireTLS: true, Check: tlspolicy.CheckDANE, Enforce: true,
			TLSA: []dns.TLSA{r}, Report: &tlsrpt.Policy{Type: "tlsa", Domain: "gmail.test"}}
	}
	c := w.courier(func(cfg *Config) { cfg.TLS, cfg.TLSReports = fixedPlans{"mx.gmail.test": host(good)}, log })
	res := deliver(t, c, w.message("m1", "x\r\n", "a@gmail.test"))
	wantVerdict(t, res, queue.VerdictDelivered)
	if got := res[0].Attempt.TLS; !got.Verified || got.Policy != "dane" {
		t.Errorf("attempt TLS %+v", got)
	}
	c = w.courier(func(cfg *Config) { cfg.TLS, cfg.TLSReports = fixedPlans{"mx.gmail.test": host(bad)}, log })
	res = deliver(t, c, w.message("m2", "x\r\n", "a@gmail.test"))
	wantTLSDeferral(t, res[0], "tlsa-invalid", "DANE")
	if n, _ := s.Received(); n != 1 {
		t.Errorf("%d messages, want the first only", n)
	}
}

// TestRefusedHostNotTried: a host the policy refuses is not connected to;
// the next one is.
func TestRefusedHostNotTried(t *testing.T) {
	w, s, c, _, ca := tlsWorld(t, nil, fixedPlans{
		"mx.gmail.test":  {Policy: tlspolicy.MTASTS, Refused: "mx.gmail.test is not in the policy", Failure: "validation-failure"},
		"mx2.gmail.test": enforced,
	})
	s2 := w.sink("mx2.gmail.test", "127.0.0.102", sandbox.SinkConfig{TLS: issue(t, ca, "mx2.gmail.test")})
	w.mx("gmail.test", "mx2.gmail.test")
	res := deliver(t, c, w.message("m1", "x\r\n", "a@gmail.test"))
	wantVerdict(t, res, queue.VerdictDelivered)
	if len(s.Conns()) != 0 || len(s2.Messages()) != 1 {
		t.Errorf("refused host: %d connections; allowed host: %d messages", len(s.Conns()), len(s2.Messages()))
	}
}

// TestExemptMailGoesOpportunistically: a TLS report (TLSOptional) goes
// to a host an enforced policy refuses for other mail, in plaintext.
func TestExemptMailGoesOpportunistically(t *testing.T) {
	w, s, c, _, _ := tlsWorld(t, nil, fixedPlans{"mx.gmail.test": enforced})
	report := w.message("r1", "report\r\n", "tlsrpt@gmail.test")
	report[0].TLSOptional = true
	res := deliver(t, c, w.message("m1", "x\r\n", "a@gmail.test"), report)
	wantTLSDeferral(t, res[0], "starttls-not-supported")
	wantVerdict(t, res[1:], queue.VerdictDelivered)
	if m := s.Messages(); len(m) != 1 || m[0].To[0] != "tlsrpt@gmail.test" {
		t.Errorf("messages %+v", m)
	}
}

// TestSessionResumption: the second connection to a host from the same
// IP resumes the first one's TLS session.
func TestSessionResumption(t *testing.T) {
	w, s, _, _, ca := tlsWorld(t, nil, nil)
	s.SetTLS(issue(t, ca, "mx.gmail.test"))
	w.ips = w.ips[:1]
	c := w.courier(func(cfg *Config) { cfg.MessagesPerConnection = 1 })
	for _, id := range []string{"m1", "m2"} {
		wantVerdict(t, deliver(t, c, w.message(id, "x\r\n", "a@gmail.test")), queue.VerdictDelivered)
	}
	cs := s.Conns()
	if len(cs) != 2 || !cs[0].TLS || cs[0].TLSResumed || !cs[1].TLS || !cs[1].TLSResumed {
		t.Errorf("conns %+v, want a full handshake then a resumed one", cs)
	}
}
