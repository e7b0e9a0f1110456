package main

import (
	"fmt"
	"strings"
)

// dkimRun is one way of running sendpool in the bench: which signatures
// it puts on each message (issue 7: RSA-2048, and a run with Ed25519).
type dkimRun struct {
	Key        string   // as -dkim names it
	Name       string   // in the report
	Algorithms []string // dkim.algorithms; nil: no DKIM (no domain is added)
}

// dkimRuns parses -dkim: "auto" (every run), "on" (every run with DKIM),
// "off", or a comma-separated list of "both", "rsa", "ed25519", "off", in
// the order they run.
func dkimRuns(spec string) ([]dkimRun, error) {
	all := []dkimRun{
		{"both", "sendpool, DKIM RSA+Ed25519", []string{"rsa-sha256", "ed25519-sha256"}},
		{"rsa", "sendpool, DKIM RSA", []string{"rsa-sha256"}},
		{"ed25519", "sendpool, DKIM Ed25519", []string{"ed25519-sha256"}},
		{"off", "sendpool, no DKIM", nil},
	}
	switch spec {
	case "auto":
		return all, nil
	case "on":
		return all[:3], nil
	}
	var out []dkimRun
	for _, key := range strings.Split(spec, ",") {
		key = strings.TrimSpace(key)
		found := false
		for _, r := range all {
			if r.Key == key {
				out, found = append(out, r), true
			}
		}
		if !found {
			return nil, fmt.Errorf(`-dkim: %q: want "auto", "on", "off" or a list of "both", "rsa", "ed25519", "off"`, key)
		}
	}
	return out, nil
}

// config is the TOML that makes sendpool sign as r says.
func (r dkimRun) config() string {
	if r.Algorithms == nil {
		return ""
	}
	return "[dkim]\nalgorithms = [\"" + strings.Join(r.Algorithms, `", "`) + "\"]\n"
}
