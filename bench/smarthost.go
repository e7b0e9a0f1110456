package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The postfix-smarthost workload is how hosting servers reach a relay:
//
//	load generator → hosting server's Postfix → sendpool → sinks
//	load generator → hosting server's Postfix → Postfix relay (+ OpenDKIM) → sinks
//
// The ratio is fair because everything but the relay is the same: the
// hosting server's Postfix has the same main.cf in both runs (relayhost,
// smtp_tls_security_level = encrypt with a session cache, AUTH PLAIN from
// smtp_sasl_password_maps, Postfix's default concurrency of 20 and, by
// its defaults too, a new connection per message over TLS:
// smtp_tls_connection_reuse = no); both relays serve the same self-signed
// certificate and want a login before they relay (sendpool its account,
// the Postfix relay a Cyrus sasldb entry); end-to-end runs from the first
// message the load generator submits to the last arrival at the sinks.
// The hosting Postfix's CPU is read apart and counted on neither side;
// on one machine it still takes its share of the CPU from both relays
// alike, which narrows the end-to-end ratio (on a hosting provider's
// network it runs elsewhere): the CPU per message compares the relays
// alone.

// startFront starts the hosting server's Postfix under dir/hosting,
// sending everything to relayAddr logged in as user.
func startFront(ctx context.Context, dir, relayAddr, user, pass string) (*postfixInstance, error) {
	return startPostfix(ctx, filepath.Join(dir, "hosting"), postfixOptions{
		Name: "hosting", Relayhost: relayAddr, RelayUser: user, RelayPassword: pass,
	})
}

// relayLatencies reads, from the hosting server's Postfix's maillog, how
// long the relay took to accept each message: the last part of delays=
// (a/b/c/d, d being the transmission: from MAIL FROM to the reply to the
// end of data, as the load generator times it), on each status=sent line.
// Postfix logs a delivery after it, so it waits up to wait for want lines.
func relayLatencies(maillog string, want int, wait time.Duration) ([]time.Duration, error) {
	deadline := time.Now().Add(wait)
	for {
		lat, err := readRelayLatencies(maillog)
		if err == nil && len(lat) >= want {
			return lat, nil
		}
		if time.Now().After(deadline) {
			if err == nil && len(lat) == 0 {
				err = fmt.Errorf("no status=sent line in %s", maillog)
			}
			if err != nil {
				return nil, err
			}
			return lat, nil // some: the figures say how many messages
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func readRelayLatencies(maillog string) ([]time.Duration, error) {
	f, err := os.Open(maillog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []time.Duration
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if d, ok := transmissionDelay(sc.Text()); ok {
			out = append(out, d)
		}
	}
	return out, sc.Err()
}

// transmissionDelay is the d of delays=a/b/c/d on a Postfix smtp log line
// of a delivery made (status=sent).
func transmissionDelay(line string) (time.Duration, bool) {
	if !strings.Contains(line, " status=sent ") {
		return 0, false
	}
	_, rest, ok := strings.Cut(line, " delays=")
	if !ok {
		return 0, false
	}
	rest, _, _ = strings.Cut(rest, ",")
	parts := strings.Split(rest, "/")
	if len(parts) != 4 {
		return 0, false
	}
	s, err := strconv.ParseFloat(parts[3], 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(s * float64(time.Second)), true
}
