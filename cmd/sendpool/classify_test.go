package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClassifyCommand(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.toml")
	if err := os.WriteFile(rules, []byte(`
[[rule]]
name = "partner"
text = 'partner says no'
verdict = "deferred"
category = "policy"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	badRules := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(badRules, []byte("[[rule]]\nname = \"x\"\ncolour = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		// want is the decoded JSON output, or lines the human output must hold.
		json map[string]string
		want []string
	}{
		{
			name: "spamhaus json",
			args: []string{"-json", "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org"},
			json: map[string]string{"verdict": "blocked-ip", "scope": "pool", "category": "blocked-ip", "rule": "spamhaus",
				"source": "https://www.spamhaus.org/faqs/; github.com/zone-eu/zone-mta/config/bounces.txt"},
		},
		{
			name: "microsoft 5.7.511 banned sender",
			args: []string{"-mx", "example-com.mail.protection.outlook.com", "-json",
				"550 5.7.511 Access denied, banned sender[192.0.2.10]. To request removal from this list please forward this message to delist@messaging.microsoft.com."},
			json: map[string]string{"verdict": "blocked-ip", "scope": "outlook", "category": "blocked-ip", "rule": "outlook-banned-ip"},
		},
		{
			name: "qq rate limit, not a bounce",
			args: []string{"-mx", "mx3.qq.com", "-json", "550 Ip frequency limited [V2VkIEFwciAgMyAxNjozNjo1OSBKU1QgMjAxOQo=/RkNGMjlFQTVEQ0E Blocked IP 192.0.2.10]."},
			json: map[string]string{"verdict": "deferred", "scope": "", "category": "rate-limit", "rule": "qq-rate"},
		},
		{
			name: "a 220- continuation ending in 421 is no success",
			args: []string{"-stage", "greeting", "-json", "220-mx.example.org ESMTP\r\n421 4.7.0 Too many connections"},
			json: map[string]string{"verdict": "deferred", "category": "rate-limit", "rule": "rate-limit"},
		},
		{
			name: "enhanced-code fallback names itself",
			args: []string{"-json", "550 5.7.1 Client address not acceptable here"},
			json: map[string]string{"verdict": "blocked-ip", "scope": "pool", "category": "blocked-ip", "rule": "enhanced-5.7.x-client",
				"source": "RFC 3463 §3.8 (X.7.1 delivery not authorized), worded about the client host, its IP or reverse DNS"},
		},
		{
			name: "outlook provider, words as separate args",
			args: []string{"-stage", "mail", "-mx", "hotmail-com.olc.protection.outlook.com", "-json",
				"550", "5.7.1", "Unfortunately,", "messages", "from", "[192.0.2.10]", "weren't", "sent.", "Please", "contact",
				"your", "Internet", "service", "provider", "since", "part", "of", "their", "network", "is", "on", "our", "block", "list", "(S3140)."},
			json: map[string]string{"verdict": "blocked-ip", "scope": "outlook", "category": "blocked-ip", "rule": "outlook-block-list"},
		},
		{
			name: "connection error",
			args: []string{"-stage", "connect", "-json", "dial tcp 127.0.0.3:25: connect: connection refused"},
			json: map[string]string{"verdict": "deferred", "scope": "", "category": "network", "rule": "network-error"},
		},
		{
			name: "human output",
			args: []string{"550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown"},
			want: []string{"verdict   permanent", "scope     -", "category  bad-mailbox", "rule      bad-mailbox",
				"source    github.com/sisimai/go-sisimai/reason/why-userunknown.go"},
		},
		{
			name: "human output, provider block",
			args: []string{"-mx", "mta5.am0.yahoodns.net", "421 4.7.0 [TSS04] Messages from 192.0.2.10 temporarily deferred"},
			want: []string{"verdict   blocked-ip", "scope     yahoo (this provider only)", "rule      yahoo-ip"},
		},
		{
			name: "human output, provider block without -mx",
			args: []string{"421 4.7.0 [TSS04] Messages from 192.0.2.10 temporarily deferred"},
			want: []string{"verdict   blocked-ip", "give -mx HOST"},
		},
		{
			name: "user rules first",
			args: []string{"-rules", rules, "-json", "550 5.7.1 partner says no"},
			json: map[string]string{"verdict": "deferred", "scope": "", "category": "policy", "rule": "partner", "source": ""},
		},
		{
			name: "user rule without a source, human output",
			args: []string{"-rules", rules, "550 5.7.1 partner says no"},
			want: []string{"rule      partner", "source    -"},
		},
		{name: "no reply", args: []string{"-json"}, code: 2},
		{name: "bad stage", args: []string{"-stage", "quit", "250 ok"}, code: 2},
		{name: "bad flag", args: []string{"-nope", "250 ok"}, code: 2},
		{name: "missing rules file", args: []string{"-rules", filepath.Join(t.TempDir(), "none.toml"), "250 ok"}, code: 1},
		{name: "invalid rules file", args: []string{"-rules", badRules, "250 ok"}, code: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runClassify(tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			if tc.code != 0 {
				if stderr.Len() == 0 {
					t.Error("failure without a message on stderr")
				}
				return
			}
			if tc.json != nil {
				var got map[string]string
				if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
					t.Fatalf("output %q: %v", stdout.String(), err)
				}
				for k, v := range tc.json {
					if got[k] != v {
						t.Errorf("%s = %q, want %q (output %s)", k, got[k], v, stdout.String())
					}
				}
				if len(got) != 5 {
					t.Errorf("want exactly verdict, scope, category, rule, source; got %s", stdout.String())
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}
