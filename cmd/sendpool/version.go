package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"sendpool/internal/buildinfo"
)

// runVersion prints which sendpool this is (internal/buildinfo).
func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	i := buildinfo.Read()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(i); err != nil {
			return 1
		}
		return 0
	}
	commit := i.Commit
	if commit == "" {
		commit = "unknown (built without VCS information)"
	}
	if i.Modified {
		commit += " (modified)"
	}
	if i.Time != "" {
		commit += " " + i.Time
	}
	static := "no (needs the system's dynamic loader and C library)"
	if i.Static {
		static = "yes"
	}
	fmt.Fprintf(stdout, "sendpool %s\ncommit:  %s\ngo:      %s %s\nstatic:  %s\n", i.Version, commit, i.GoVersion, i.Platform, static)
	return 0
}
