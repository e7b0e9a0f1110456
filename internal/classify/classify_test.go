package classify

import (
	"slices"
	"strings"
	"testing"

	"sendpool/internal/queue"
)

func newClassifier(t testing.TB, extra []Rule) *Classifier {
	t.Helper()
	c, err := New(extra)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUserRulesComeFirst(t *testing.T) {
	const spamhaus = "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org"
	rules, err := LoadRules(strings.NewReader(`
[[rule]]
name = "our-partner"
providers = "example.org"
text = 'spamhaus'
verdict = "deferred"
category = "other"

[[rule]]
name = "local-block"
codes = ["5xx", "4xx"]
enhanced = "x.7.1"
text = 'go away'
verdict = "blocked-ip"
scope = "partner"
`))
	if err != nil {
		t.Fatal(err)
	}
	c := newClassifier(t, rules)
	got := c.Classify(StageRcpt, "mx.example.org", spamhaus)
	if got != (queue.Classification{Verdict: queue.VerdictDeferred, Category: "other", Rule: "our-partner"}) {
		t.Errorf("user rule did not override: %+v", got)
	}
	// Elsewhere the built-in rule still applies.
	got = c.Classify(StageRcpt, "mx.example.net", spamhaus)
	if got.Verdict != queue.VerdictBlockedIP || got.Scope != "pool" || got.Rule != "spamhaus" {
		t.Errorf("built-in rule lost: %+v", got)
	}
	got = c.Classify(StageMail, "mx.example.net", "451 4.7.1 go away")
	if got != (queue.Classification{Verdict: queue.VerdictBlockedIP, Scope: "partner", Category: "blocked-ip", Rule: "local-block"}) {
		t.Errorf("fixed scope: %+v", got)
	}
	// The enhanced condition holds the rule back when the code differs.
	if got := c.Classify(StageMail, "mx.example.net", "550 5.1.1 go away"); got.Rule == "local-block" {
		t.Errorf("enhanced pattern ignored: %+v", got)
	}
}

func TestLoadRulesErrors(t *testing.T) {
	for name, text := range map[string]string{
		"unknown key":        "[[rule]]\nname = \"a\"\ncategory = \"other\"\ncolour = \"red\"\n",
		"no name":            "[[rule]]\ncategory = \"other\"\n",
		"bad regexp":         "[[rule]]\nname = \"a\"\ncategory = \"other\"\ntext = '(['\n",
		"bad verdict":        "[[rule]]\nname = \"a\"\ncategory = \"other\"\nverdict = \"maybe\"\n",
		"bad category":       "[[rule]]\nname = \"a\"\ncategory = \"weird\"\n",
		"blocked no scope":   "[[rule]]\nname = \"a\"\nverdict = \"blocked-ip\"\n",
		"scope not blocked":  "[[rule]]\nname = \"a\"\ncategory = \"other\"\nscope = \"pool\"\n",
		"bad stage":          "[[rule]]\nname = \"a\"\ncategory = \"other\"\nstages = \"quit\"\n",
		"bad code":           "[[rule]]\nname = \"a\"\ncategory = \"other\"\ncodes = \"5x\"\n",
		"bad enhanced":       "[[rule]]\nname = \"a\"\ncategory = \"other\"\nenhanced = \"5.7\"\n",
		"bad enhanced range": "[[rule]]\nname = \"a\"\ncategory = \"other\"\nenhanced = \"5.7.9-1\"\n",
		"not a list":         "[[rule]]\nname = \"a\"\ncategory = \"other\"\ntext = 5\n",
		"providers in file":  "[[provider]]\nname = \"x\"\nmx = \"x.test\"\n",
		"bad toml":           "[[rule]\n",
	} {
		if _, err := LoadRules(strings.NewReader(text)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestProvider(t *testing.T) {
	c := newClassifier(t, nil)
	for mx, want := range map[string]string{
		"gmail-smtp-in.l.google.com.":                "gmail",
		"ASPMX.L.GOOGLE.COM":                         "gmail",
		"example-com.mail.protection.outlook.com":    "outlook",
		"hotmail-com.olc.protection.outlook.com":     "outlook",
		"mta7.am0.yahoodns.net":                      "yahoo",
		"mx-aol.mail.gm0.yahoodns.net":               "yahoo",
		"mx01.mail.icloud.com":                       "apple",
		"mx-ha03.web.de":                             "gmx",
		"mx00.t-online.de":                           "t-online",
		"smtp-in.orange.fr":                          "orange",
		"mx1a1.comcast.net":                          "comcast",
		"mx0a-00123401.pphosted.com":                 "proofpoint",
		"eu-smtp-inbound-1.mimecast.com":             "mimecast",
		"mx1.example.co.uk":                          "example.co.uk",
		"mail.example.com.au":                        "example.com.au",
		"mx.abc.de":                                  "abc.de",
		"mx.sink.example.test":                       "example.test",
		"localhost":                                  "localhost",
		"[192.0.2.1]":                                "192.0.2.1",
		"notgoogle.com":                              "notgoogle.com",
		"":                                           "",
		"mx.outlook.com.evil.test":                   "evil.test",
		"a.b.c.d.e.mail.protection.outlook.com.":     "outlook",
		"mx.sink.gmail.test":                         "gmail.test",
		"mx.example.net":                             "example.net",
		"mx2.example.org":                            "example.org",
		"mx.laposte.net":                             "laposte",
		"mailin-01.mx.aol.com":                       "yahoo",
		"alt4.gmail-smtp-in.l.google.com":            "gmail",
		"us-smtp-inbound-2.mimecast-offshore.com":    "mimecast",
		"mx.example.test.":                           "example.test",
		"MX01.EXAMPLE.CO.JP":                         "example.co.jp",
		"xn--80ak6aa92e.example.com":                 "example.com",
		"2001:db8::25":                               "2001:db8::25",
		"[2001:db8::25]":                             "2001:db8::25",
		"example.test":                               "example.test",
		"mx.t-online.de.example.test":                "example.test",
		"protection.outlook.com":                     "outlook",
		"mx.o.test":                                  "o.test",
		"eur.olc.protection.outlook.com":             "outlook",
		"mx1.hotmail.com":                            "outlook",
		"mx00.emig.gmx.net":                          "gmx",
		"smtpz4.laposte.net":                         "laposte",
		"mx2c1.comcast.net":                          "comcast",
		"mx02.mail.icloud.com":                       "apple",
		"mx0b-00123401.ppe-hosted.com":               "proofpoint",
		"mx.zoho.eu":                                 "zoho.eu",
		"mx.example.ac.uk":                           "example.ac.uk",
		"mail.example.org.uk":                        "example.org.uk",
		"mx.examplecompany.de":                       "examplecompany.de",
		"mx.a.com":                                   "a.com",
		"smtp.example.co":                            "example.co",
		"gmail-smtp-in.l.google.com.evil.example.co": "example.co",
		"mx.co.uk":                                   "mx.co.uk",
	} {
		if got := c.Provider(mx); got != want {
			t.Errorf("Provider(%q) = %q, want %q", mx, got, want)
		}
	}
}

func TestGreylisting(t *testing.T) {
	for reply, want := range map[string]bool{
		"451 4.7.1 Greylisting in action, please come back in 00:04:59":                                    true,
		"450 4.7.1 Recipient address rejected: Graylisted":                                                 true,
		"451 Internal resource temporarily unavailable - https://community.mimecast.com/docs/DOC-1369#451": true,
		"550 5.7.1 Greylisted too many times":                                                              false, // a 5xx is final whatever it says
		"451 4.7.1 Try again later":                                                                        false,
		"421-4.7.0 Try again later, closing connection. (EHLO)":                                            false,
		"451 Temporary local problem - please try later":                                                   false,
		"greylisted": false, // not a reply
		"":           false,
	} {
		if got := Greylisting(reply); got != want {
			t.Errorf("Greylisting(%q) = %v, want %v", reply, got, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	c := newClassifier(t, nil)
	for _, tc := range []struct {
		reply    string
		verdict  queue.Verdict
		category string
		rule     string
	}{
		{"250 OK", queue.VerdictDelivered, "", "success"},
		{"550", queue.VerdictPermanent, "other", "default-5xx"},
		{"550 5.1.1", queue.VerdictPermanent, "bad-mailbox", "enhanced-5.1.x"},
		{"550 5.1.2", queue.VerdictPermanent, "bad-domain", "enhanced-5.1.x-domain"},
		{"556 5.1.10", queue.VerdictPermanent, "bad-domain", "enhanced-5.1.x-domain"},
		{"553 5.1.8", queue.VerdictPermanent, "policy", "enhanced-5.1.x-sender"},
		{"552 5.2.2", queue.VerdictPermanent, "quota", "enhanced-5.2.x"},
		{"550 5.2.1", queue.VerdictPermanent, "bad-mailbox", "enhanced-5.2.1"},
		{"552 5.2.3", queue.VerdictPermanent, "other", "enhanced-5.2.3"},
		{"554 5.3.4", queue.VerdictPermanent, "other", "enhanced-5.3.x"},
		{"554 5.7.0", queue.VerdictPermanent, "policy", "enhanced-5.7.x"},
		{"554 5.7.13", queue.VerdictPermanent, "bad-mailbox", "enhanced-5.7.13"},
		{"550 5.7.23", queue.VerdictPermanent, "auth", "enhanced-5.7.x-auth"},
		{"550 5.7.25", queue.VerdictPermanent, "auth", "enhanced-5.7.x-auth"},
		{"550 5.7.1 [192.0.2.10] ptr mismatch", queue.VerdictBlockedIP, "blocked-ip", "enhanced-5.7.x-client"},
		{"550 5.7.1 what a mess", queue.VerdictPermanent, "policy", "enhanced-5.7.x"},
		{"554 5.5.0", queue.VerdictPermanent, "protocol", "enhanced-5.5.x"},
		{"554 5.6.0", queue.VerdictPermanent, "other", "enhanced-5.6.x"},
		{"554 5.0.0", queue.VerdictPermanent, "other", "enhanced-5.0.x"},
		{"554 5.9.9", queue.VerdictPermanent, "other", "default-5xx"},
		{"421", queue.VerdictDeferred, "other", "default-4xx"},
		{"452-4.2.2 quota", queue.VerdictDeferred, "quota", "enhanced-4.2.x"},
		{"450 4.4.7", queue.VerdictDeferred, "expired", "enhanced-4.4.7"},
		{"451 4.4.4", queue.VerdictDeferred, "bad-domain", "enhanced-4.4.4"},
		{"451 4.4.1", queue.VerdictDeferred, "network", "enhanced-4.4.x"},
		{"100 continue", queue.VerdictDeferred, "protocol", "invalid-reply"},
		{"hello", queue.VerdictDeferred, "other", "default-error"},
		{"55", queue.VerdictDeferred, "other", "default-error"},
		{"5501 x", queue.VerdictDeferred, "other", "default-error"},
	} {
		got, rule := c.Explain(StageRcpt, "mx.example.test", tc.reply)
		if got.Verdict != tc.verdict || got.Category != tc.category || got.Rule != tc.rule || (got.Scope == "pool") != (tc.verdict == queue.VerdictBlockedIP) {
			t.Errorf("%q: got %+v, want %s/%s by %s", tc.reply, got, tc.verdict, tc.category, tc.rule)
		}
		if rule.Name != got.Rule || rule.Source == "" {
			t.Errorf("%q: explained by %+v", tc.reply, rule)
		}
	}
}

func TestStagesAndCategoriesAreCopies(t *testing.T) {
	s := Stages()
	s[0] = "changed"
	if Stages()[0] != StageConnect {
		t.Error("Stages shares its slice")
	}
	cat := Categories()
	cat[0] = "changed"
	if !slices.Contains(Categories(), "bad-mailbox") {
		t.Error("Categories shares its slice")
	}
}
