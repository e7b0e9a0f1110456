package main

import (
	"fmt"
	"strings"

	"sendpool/internal/config"
)

// The clients a run's load comes from (-client), as hosting servers send.
const (
	// clientPipelining is the load generator pipelining MAIL, RCPT and
	// DATA (RFC 2920) over one connection per session for the whole run.
	clientPipelining = "pipelining"
	// clientPlain is a client that does not pipeline: each command waits
	// for its reply, one transaction per message, a new connection (EHLO,
	// AUTH PLAIN) every plainPerConn messages, as go-smtp's client and
	// many hosting servers' MTAs do.
	clientPlain = "plain"
	// clientPostfix is a hosting server's Postfix using the relay as its
	// smarthost (relayhost, STARTTLS, AUTH PLAIN): the load generator
	// submits to that Postfix, which relays to the server measured.
	clientPostfix = "postfix"
)

// plainPerConn is how many messages the plain client sends on one
// connection.
const plainPerConn = 10

var allClients = []string{clientPipelining, clientPlain, clientPostfix}

// clientNotes say, per client, what the load is and how each side is
// reached, for the report.
var clientNotes = map[string]string{
	clientPipelining: "the load generator pipelines MAIL, RCPT and DATA (RFC 2920), one connection per session for the whole run; " +
		"sendpool with AUTH PLAIN, Postfix by mynetworks (no AUTH)",
	clientPlain: fmt.Sprintf("no pipelining: MAIL, RCPT and DATA each wait for their reply; a new connection (EHLO, and AUTH PLAIN to sendpool) "+
		"every %d messages; Postfix relays by mynetworks (no AUTH)", plainPerConn),
	clientPostfix: "hosting server's Postfix → relay → sinks: the load generator (pipelining, by mynetworks) submits to a Postfix " +
		"that relays everything to the relay measured (relayhost, STARTTLS encrypt, AUTH PLAIN; by Postfix's defaults a new " +
		"connection per message over TLS, smtp_tls_connection_reuse = no): sendpool, or a Postfix relay with the same " +
		"self-signed certificate and a SASL login (Cyrus sasldb); the hosting Postfix has the same config in both runs, its " +
		"CPU is shown apart and counted on neither side, but on one machine it takes its share of the CPU, which narrows the " +
		"end-to-end ratio: the CPU columns compare the relays alone; accept msg/s is the hosting Postfix's intake, p50/p99 " +
		"the relay's as the hosting Postfix logged them (delays=, the transmission part: MAIL FROM to the 250 after the " +
		"data, to two significant digits)",
}

// parseClients parses -client: a comma-separated list of clients, in the
// order they run; "all" is every one.
func parseClients(spec string) ([]string, error) {
	if spec == "all" {
		return allClients, nil
	}
	var out []string
	for key := range strings.SplitSeq(spec, ",") {
		key = strings.TrimSpace(key)
		found := false
		for _, c := range allClients {
			if c == key {
				out, found = append(out, c), true
			}
		}
		if !found {
			return nil, fmt.Errorf(`-client: %q: want a list of %q`, key, strings.Join(allClients, ","))
		}
	}
	return out, nil
}

// workload is what a run's load is: its message size and its client.
type workload struct {
	Size     int    // bytes, headers included
	SizeText string // as -size gave it
	Client   string
}

func (w workload) String() string { return w.SizeText + " " + w.Client }

// parseSizes parses -size: a comma-separated list of sizes like "10KB".
func parseSizes(spec string) ([]workload, error) {
	var out []workload
	for text := range strings.SplitSeq(spec, ",") {
		text = strings.TrimSpace(text)
		n, err := config.ParseSize(text)
		if err != nil {
			return nil, fmt.Errorf("-size: %w", err)
		}
		if n <= 0 {
			return nil, fmt.Errorf("-size: %q is not positive", text)
		}
		out = append(out, workload{Size: int(n), SizeText: text})
	}
	return out, nil
}
