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
			json: map[string]string{"verdict": "blocked-ip", "scope": "pool", "category": "blocked-ip", "rule": "spamhaus"},
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
			want: []string{"verdict   permanent", "scope     -", "category  bad-mailbox", "rule      bad-mailbox"},
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
			json: map[string]string{"verdict": "deferred", "scope": "", "category": "policy", "rule": "partner"},
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
				if len(got) != 4 {
					t.Errorf("want exactly verdict, scope, category, rule; got %s", stdout.String())
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
