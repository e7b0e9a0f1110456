package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"sendpool/internal/config"
)

// runCheckConfig validates a config file: every problem on its own line with
// its key path, exit 1 if there is any.
func runCheckConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file to check")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "usage: sendpool check-config -config FILE")
		return 2
	}
	if _, err := config.Load(*path); err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintf(stderr, "%s: %s\n", *path, e)
			}
		} else {
			fmt.Fprintf(stderr, "%s: %v\n", *path, err)
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return 0
}
