package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sendpool/internal/apiclient"
	"sendpool/internal/config"
)

// adminTimeout bounds one admin command's calls to the API.
const adminTimeout = 30 * time.Second

// errUsage marks a command line error: its message is printed, exit 2.
var errUsage = errors.New("usage")

const adminUsage = `usage:
  sendpool account add NAME [-password-file F|-] [-domains a,b] [-networks CIDR,…]
                            [-foreign-from a,b] [-per-minute N] [-per-hour N] [-per-day N]
                            [-rcpt-per-hour N] [-sender-per-hour N]
                            [-inbound-host HOST[:PORT]] [-forwarding]
                            (-password P works too, but shows in ps)
  sendpool account ls | show NAME | rm NAME | resume NAME | release NAME
  sendpool account set NAME [same flags as add] [-status active|suspended] [-reason R]
  sendpool account suspend NAME [-reason R]
  sendpool account suppressions NAME    recipients refused for the account (550 5.1.1)
  sendpool account suppress NAME ADDRESS [-reason TEXT] [-for DURATION]
  sendpool account unsuppress NAME ADDRESS
  sendpool domain add DOMAIN -account NAME [-zone]
  sendpool domain ls [-account NAME] | check DOMAIN | rm DOMAIN
  sendpool domain records|rotate-dkim DOMAIN [-zone]
  sendpool ip ls | resume ADDR
  sendpool ip show ADDR [-limit N]      status and recent replies
  sendpool ip suspend ADDR [-for DURATION] [-reason TEXT]
  sendpool queue ls [-status S] [-account A] [-limit N] [-before ID]
  sendpool queue show|retry|hold|release|rm ID
  sendpool queue stats
  sendpool inbound bans | unban IP      the MX's bans (every node's)
  sendpool inbound decisions [-limit N] the MX's recent decisions
  sendpool inbound recipients ACCOUNT [add|rm ADDRESS]
  sendpool webhook add URL [-events a,b] [-account NAME]   prints the secret, once
  sendpool webhook ls | rm ID | rotate ID | enable ID

common flags, anywhere after the subcommand:
  -api URL    the server's HTTP API (default $SENDPOOL_API or http://127.0.0.1:8025)
  -token T    the admin token (default $SENDPOOL_TOKEN)
  -token-file F  read the token from F (default $SENDPOOL_TOKEN_FILE, else
              ./sendpool-data/admin_token, which serve makes at its first start)
  -json       print JSON instead of a table
`

// adminCmd is one admin subcommand being run: its flags, its client and
// where it prints.
type adminCmd struct {
	fs    *flag.FlagSet
	api   string
	token string
	json  bool
	// tokenFile holds the token when -token is not given; by default the
	// one serve made under its default data_dir.
	tokenFile string
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
}

func newAdminCmd(name string, stdin io.Reader, stderr, stdout io.Writer) *adminCmd {
	c := &adminCmd{fs: flag.NewFlagSet(name, flag.ContinueOnError), stdin: stdin, stdout: stdout, stderr: stderr}
	c.fs.SetOutput(stderr)
	c.fs.Usage = func() { fmt.Fprint(stderr, adminUsage) }
	api := os.Getenv("SENDPOOL_API")
	if api == "" {
		api = "http://127.0.0.1:8025"
	}
	c.fs.StringVar(&c.api, "api", api, "the server's HTTP API")
	c.fs.StringVar(&c.token, "token", os.Getenv("SENDPOOL_TOKEN"), "the admin token")
	c.fs.StringVar(&c.tokenFile, "token-file", os.Getenv("SENDPOOL_TOKEN_FILE"), "read the admin token from this file")
	c.fs.BoolVar(&c.json, "json", false, "print JSON")
	return c
}

// parse parses args, letting flags come before, between and after the
// positional arguments (the flag package alone stops at the first non-flag),
// and checks that there are exactly want positionals.
func (c *adminCmd) parse(args []string, want int) ([]string, error) {
	return c.parseSome(args, want, want)
}

// parseSome is parse for a command taking from min to max positionals.
func (c *adminCmd) parseSome(args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return nil, errUsage
		}
		args = c.fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < min || len(pos) > max {
		n := fmt.Sprint(min)
		if max != min {
			n = fmt.Sprintf("%d to %d", min, max)
		}
		return nil, fmt.Errorf("%w: %s takes %s argument(s), got %d", errUsage, c.fs.Name(), n, len(pos))
	}
	return pos, nil
}

// client returns a client for -api and -token: call it only after parse.
// Without a token it reads -token-file, or the file serve makes under its
// default data_dir (./sendpool-data/admin_token), so that the commands work
// beside `sendpool serve` with nothing to copy.
func (c *adminCmd) client() *apiclient.Client {
	if c.token == "" {
		file := c.tokenFile
		if file == "" {
			file = filepath.Join(config.Default().Server.DataDir, tokenFile)
		}
		if b, err := os.ReadFile(file); err == nil {
			c.token = strings.TrimSpace(string(b))
		}
	}
	return apiclient.New(c.api, c.token)
}

// set reports whether flag name was given.
func (c *adminCmd) set(name string) bool {
	found := false
	c.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// printJSON prints v indented.
func (c *adminCmd) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// runAdmin runs the admin command cmd (account, domain, ip, queue) with its
// subcommand and flags in args.
func runAdmin(cmd string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprint(stderr, adminUsage)
		return 2
	}
	sub, rest := args[0], args[1:]
	c := newAdminCmd(cmd+" "+sub, stdin, stderr, stdout)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()

	var err error
	switch cmd {
	case "account":
		err = c.account(ctx, sub, rest)
	case "domain":
		err = c.domain(ctx, sub, rest)
	case "ip":
		err = c.ip(ctx, sub, rest)
	case "queue":
		err = c.queue(ctx, sub, rest)
	case "inbound":
		err = c.inbound(ctx, sub, rest)
	case "webhook":
		err = c.webhook(ctx, sub, rest)
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		if msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": "); msg != errUsage.Error() {
			fmt.Fprintf(stderr, "sendpool: %s\n\n%s", msg, adminUsage)
		}
		return 2
	}
	fmt.Fprintf(stderr, "sendpool: %s %s: %v\n", cmd, sub, err)
	return 1
}

// splitList splits a comma-separated flag value; "" is the empty list.
func splitList(s string) []string {
	out := []string{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// orDash prints "-" for an empty cell, keeping tables aligned.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
