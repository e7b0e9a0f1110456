package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"sendpool/internal/classify"
	"sendpool/internal/queue"
)

const classifyUsage = `usage: sendpool classify [-stage STAGE] [-mx HOST] [-json] [-rules FILE] REPLY...

Prints how a receiver's reply, or an error on the way to it, would be treated,
the rule that decided and where that rule's wording comes from. REPLY is the
reply ("550 5.1.1 User unknown") or the error text, given as one argument or
several joined by spaces; a multi-line reply may keep its line breaks or its
"CODE-" prefixes, and its last line's code counts. Needs no running server.

`

// runClassify is `sendpool classify` (SPEC §1).
func runClassify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, classifyUsage)
		fs.PrintDefaults()
	}
	stage := fs.String("stage", classify.StageRcpt, "SMTP stage the reply came at: "+strings.Join(classify.Stages(), ", "))
	mx := fs.String("mx", "", "MX host that replied (names the provider of a provider-wide block)")
	asJSON := fs.Bool("json", false, `print {"verdict","scope","category","rule","source"}`)
	rulesFile := fs.String("rules", "", "TOML file of extra [[rule]]s, tried before the built-in ones")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	reply := strings.TrimSpace(strings.Join(fs.Args(), " "))
	if reply == "" {
		fmt.Fprintln(stderr, "sendpool classify: no reply given")
		fs.Usage()
		return 2
	}
	st := strings.ToLower(*stage)
	if !slices.Contains(classify.Stages(), st) {
		fmt.Fprintf(stderr, "sendpool classify: unknown stage %q (one of %s)\n", *stage, strings.Join(classify.Stages(), ", "))
		return 2
	}

	var extra []classify.Rule
	if *rulesFile != "" {
		rules, err := loadRuleFile(*rulesFile)
		if err != nil {
			fmt.Fprintf(stderr, "sendpool classify: %s: %v\n", *rulesFile, err)
			return 1
		}
		extra = rules
	}
	c, err := classify.New(extra)
	if err != nil {
		fmt.Fprintf(stderr, "sendpool classify: %v\n", err)
		return 1
	}
	res, rule := c.Explain(st, *mx, reply)

	if *asJSON {
		// SPEC §1's four fields, and where the rule's wording comes from.
		out := struct {
			queue.Classification
			Source string `json:"source"`
		}{res, rule.Source}
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "sendpool classify: %v\n", err)
			return 1
		}
		return 0
	}
	scope := res.Scope
	switch {
	case scope == "pool":
		scope = "pool (every destination)"
	case scope != "":
		scope += " (this provider only)"
	case res.Verdict == queue.VerdictBlockedIP:
		scope = "the MX host's provider (give -mx HOST to name it)"
	default:
		scope = "-"
	}
	category := res.Category
	if category == "" {
		category = "-"
	}
	source := rule.Source
	if source == "" {
		source = "-" // a user's rule that names none
	}
	fmt.Fprintf(stdout, "verdict   %s\nscope     %s\ncategory  %s\nrule      %s\nsource    %s\n", res.Verdict, scope, category, res.Rule, source)
	return 0
}

func loadRuleFile(path string) ([]classify.Rule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return classify.LoadRules(f)
}
