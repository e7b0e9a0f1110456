// Command sendpool is the outbound mail relay: see SPEC.md §1 for its
// commands. This file dispatches; each command lives in its own file.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: sendpool COMMAND [flags]

commands:
  serve [-config FILE]        run the relay, the API and the control panel
  sandbox                     run a self-contained loopback demo
  check-config -config FILE   validate a config file
  classify [-stage S] [-mx HOST] [-json] REPLY
                              show how a receiver's reply would be treated
  backup [-config FILE] -to FILE
                              copy the embedded queue while serve runs
  config-doc [-markdown]      every config key with its default and meaning
  version                     version, commit, Go version, static or not
  account, domain, ip, queue, inbound, webhook
                              admin commands (call a running server's API)
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(rest, stdout, stderr)
	case "sandbox":
		return runSandbox(rest, stdout, stderr)
	case "check-config":
		return runCheckConfig(rest, stdout, stderr)
	case "classify":
		return runClassify(rest, stdout, stderr)
	case "backup":
		return runBackup(rest, stdout, stderr)
	case "config-doc":
		return runConfigDoc(rest, stdout, stderr)
	case "version", "-version", "--version":
		return runVersion(rest, stdout, stderr)
	case "account", "domain", "ip", "queue", "inbound", "webhook":
		return runAdmin(cmd, rest, stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "sendpool: unknown command %q\n\n%s", cmd, usage)
	return 2
}
