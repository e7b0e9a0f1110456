package tlspolicy

import (
	"context"
	"testing"

	"sendpool/internal/dns"
	"sendpool/internal/mtasts"
	"sendpool/internal/sandbox"
)

type fixedSTS map[string]mtasts.Result

func (f fixedSTS) Get(_ context.Context, domain string) mtasts.Result { return f[domain] }

func policy(t *testing.T, text string) *mtasts.Policy {
	t.Helper()
	p, err := mtasts.ParsePolicy(text)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPlan: overrides first, DANE before MTA-STS for the hosts it covers,
// an enforced policy refusing the hosts it does not name, a policy that
// could not be had reported, exempt mail opportunistic.
func TestPlan(t *testing.T) {
	s, err := sandbox.NewDNSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetMX("mixed.test", sandbox.MXRecord{Host: "mx1.mixed.test", Pref: 10}, sandbox.MXRecord{Host: "mx2.mixed.test", Pref: 20})
	s.SetA("mx1.mixed.test", "127.0.0.40")
	s.SetA("mx2.mixed.test", "127.0.0.41")
	s.SetTLSA("_25._tcp.mx1.mixed.test", sandbox.TLSARecord{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)})
	s.SetSecure("mixed.test", true)
	res, err := dns.New([]string{s.Addr()}, dns.Options{DNSSEC: true, Cache: dns.NoCache{}})
	if err != nil {
		t.Fatal(err)
	}
	enforce := policy(t, "version: STSv1\nmode: enforce\nmx: mx2.mixed.test\nmx: *.sts.test\nmax_age: 86400\n")
	testing := policy(t, "version: STSv1\nmode: testing\nmx: *.sts.test\nmax_age: 86400\n")
	p := New(Config{
		Overrides: map[string]string{"legacy.test": None, "bank.test": Verify, "mixed2.test": Encrypt},
		STS: fixedSTS{
			"mixed.test":   {Policy: enforce, ID: "1"},
			"sts.test":     {Policy: enforce, ID: "1"},
			"trial.test":   {Policy: testing, ID: "1"},
			"broken.test":  {Failure: mtasts.ResultFetchError},
			"retired.test": {Policy: policy(t, "version: STSv1\nmode: none\nmax_age: 86400\n")},
		},
		DANE: res,
	})
	ctx := t.Context()
	for _, tc := range []struct {
		domain, mx string
		exempt     bool
		want       string // Policy
		refused    bool
		report     string // policy-type reported, "" for none
	}{
		{"legacy.test", "mx.legacy.test", false, None, false, ""},
		{"bank.test", "mx.bank.test", false, Verify, false, ""},
		{"mixed2.test", "mx.mixed2.test", false, Encrypt, false, ""},
		{"mixed.test", "mx1.mixed.test", false, DANE, false, "tlsa"},           // DANE first
		{"mixed.test", "mx2.mixed.test", false, MTASTS, false, "sts"},          // no TLSA: MTA-STS
		{"sts.test", "mx.sts.test", false, MTASTS, false, "sts"},               // matches *.sts.test
		{"sts.test", "mx.elsewhere.test", false, MTASTS, true, "sts"},          // not in the policy
		{"sts.test", "mx.elsewhere.test", true, May, false, "no-policy-found"}, // exempt
		{"trial.test", "mx.elsewhere.test", false, MTASTSTesting, false, "sts"},
		{"broken.test", "mx.broken.test", false, May, false, "sts"},
		{"retired.test", "mx.retired.test", false, May, false, "no-policy-found"},
		{"plain.test", "mx.plain.test", false, May, false, "no-policy-found"},
	} {
		h := p.Plan(ctx, tc.domain, []string{tc.mx}, tc.exempt).Host(tc.mx)
		report := ""
		if h.Report != nil {
			report = h.Report.Type
		}
		if h.Policy != tc.want || (h.Refused != "") != tc.refused || report != tc.report {
			t.Errorf("%s via %s (exempt %v): %+v", tc.domain, tc.mx, tc.exempt, h)
		}
	}
	h := p.Plan(ctx, "broken.test", []string{"mx.broken.test"}, false).Host("mx.broken.test")
	if h.PolicyFailure != mtasts.ResultFetchError || h.RequireTLS {
		t.Errorf("policy that could not be had: %+v", h)
	}
	h = p.Plan(ctx, "mixed.test", []string{"mx1.mixed.test"}, false).Host("MX1.mixed.test")
	if h.Check != CheckDANE || len(h.TLSA) != 1 || !h.Enforce || !h.RequireTLS || h.Retry {
		t.Errorf("DANE host %+v", h)
	}
	if h := p.Plan(ctx, "sts.test", []string{"mx.sts.test"}, false).Host("mx.sts.test"); h.Retry || !h.Enforce || h.Check != CheckPKIX {
		t.Errorf("enforced host %+v", h)
	}
}
