package smtpd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// fuzzDeadline bounds one fuzzed session. The client half-closes after
// its input, so a server that works ends every session long before: this
// only turns a hang into a failure instead of a stuck fuzzer.
const fuzzDeadline = 20 * time.Second

// Preambles the first byte of a fuzz input chooses (bit 0: authenticate,
// else bit 1: EHLO only, else nothing), so that the fuzzer need not find
// the credentials to reach a transaction.
const (
	preAuth = "EHLO fuzz.test\r\nAUTH PLAIN AGFjbWUAc2VjcmV0\r\n" // \0acme\0secret
	preEHLO = "EHLO fuzz.test\r\n"
	// fuzzTrailer ends every input. Its marker can only reach a stored
	// message if the server took the end of the connection for the end of
	// a message (a short BDAT chunk): a client whose connection breaks
	// mid-message never got a 250 and sends it again.
	fuzzMarker  = "fuzz-end-of-input-7f3a"
	fuzzTrailer = "\r\nNOOP " + fuzzMarker + "\r\nQUIT\r\n"
)

// fuzzSeeds are sessions worth starting from: each is sent after its
// preamble byte.
var fuzzSeeds = []struct {
	pre  byte
	body string
}{
	{1, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nDATA\r\nFrom: a@acme.test\r\nSubject: hi\r\n\r\nhello\r\n.\r\n"},
	{1, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nRCPT TO:<c@yahoo.test>\r\nDATA\r\nFrom: a@acme.test\r\n\r\nx\r\n.\r\nMAIL FROM:<a@acme.test>\r\nRCPT TO:<d@outlook.test>\r\nDATA\r\nFrom: a@acme.test\r\n\r\ny\r\n.\r\n"},
	// No AUTH: never an open relay.
	{2, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nDATA\r\nFrom: a@acme.test\r\nSubject: hi\r\n\r\nhello\r\n.\r\n"},
	{0, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nDATA\r\nFrom: a@acme.test\r\n\r\nhello\r\n.\r\n"},
	{0, "HELO x\r\nMAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nDATA\r\nFrom: a@acme.test\r\n\r\nx\r\n.\r\n"},
	// SMTP smuggling: <LF>.<LF> and <CR>.<CR> never end DATA.
	{1, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nDATA\r\nFrom: a@acme.test\r\n\r\nx\n.\nMAIL FROM:<a@acme.test>\nRCPT TO:<evil@gmail.test>\nDATA\nevil\r.\r\n.\r\n"},
	{1, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nDATA\r\nFrom: a@acme.test\r\n\r\nbare\rCR and bare\nLF\r\n..dot\r\n.\r\n"},
	// Pipelined junk, NULs, bare CR and LF between commands.
	{1, "MAIL FROM:<a@acme.test>\r\nJUNK\x00\r\n\rRCPT TO:<b@gmail.test>\n\x00\x00\r\nRCPT TO:<\x00@gmail.test>\r\nDATA\r\nFrom: a@acme.test\r\n\r\n\x00\r\n.\r\n"},
	{1, "\r\n\r\n\n\n\r\r\r\x00 \t\r\nNOOP\r\nRSET\r\nVRFY x\r\nHELP\r\nEXPN y\r\n"},
	// Overlong lines: command, address and body.
	{1, "MAIL FROM:<" + strings.Repeat("a", 3000) + "@acme.test>\r\nNOOP\r\n"},
	{1, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nDATA\r\n" + strings.Repeat("y", 5000) + "\r\n.\r\n"},
	{1, strings.Repeat("N", 5000) + "\r\nNOOP\r\n"},
	// Oversize and recipient limit.
	{1, "MAIL FROM:<a@acme.test> SIZE=99999999\r\nMAIL FROM:<a@acme.test>\r\nRCPT TO:<1@g.test>\r\nRCPT TO:<2@g.test>\r\nRCPT TO:<3@g.test>\r\nRCPT TO:<4@g.test>\r\nRCPT TO:<5@g.test>\r\nRCPT TO:<6@g.test>\r\nDATA\r\nFrom: a@acme.test\r\n\r\nx\r\n.\r\n"},
	{1, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nDATA\r\n" + strings.Repeat("0123456789abcdef\r\n", 4000) + ".\r\n"},
	// Sender not the account's, null sender, odd paths and parameters.
	{1, "MAIL FROM:<a@other.test>\r\nMAIL FROM:<>\r\nRCPT TO:<b@gmail.test>\r\nDATA\r\nFrom: a@acme.test\r\n\r\nx\r\n.\r\n"},
	{1, "MAIL FROM:<@x.test:a@acme.test> BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<\"q u>o\"@gmail.test> NOTIFY=NEVER\r\nRCPT TO:<ü@bücher.test>\r\nRCPT TO:<postmaster>\r\nDATA\r\nFrom: a@acme.test\r\n\r\nx\r\n.\r\n"},
	{1, "MAIL FROM:a@acme.test\r\nMAIL FROM:<a@acme.test\r\nMAIL FROM:<a@acme.test> SIZE=-1\r\nMAIL FROM:<a@acme.test> SIZE=x AUTH=<>\r\nRCPT TO:\r\nRCPT TO:<>\r\n"},
	// AUTH: bad base64, cancelled, LOGIN in steps, wrong password, twice.
	{2, "AUTH PLAIN !!!notbase64\r\nAUTH PLAIN\r\n*\r\nAUTH LOGIN\r\nYWNtZQ==\r\n%%%\r\nAUTH LOGIN YWNtZQ==\r\nd3Jvbmc=\r\nAUTH LOGIN\r\nYWNtZQ==\r\nc2VjcmV0\r\nAUTH PLAIN AGFjbWUAc2VjcmV0\r\n"},
	{2, "AUTH PLAIN AGFjbWUAd3Jvbmc=\r\nAUTH PLAIN YQBhY21lAHNlY3JldA==\r\nAUTH CRAM-MD5\r\nAUTH\r\nAUTH LOGIN =\r\n\r\n=\r\n"},
	{0, "AUTH PLAIN AGFjbWUAc2VjcmV0\r\nEHLO x\r\nAUTH LOGIN\r\nYWNtZQ==\r\nc2VjcmV0\r\nMAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nDATA\r\nFrom: a@acme.test\r\n\r\nx\r\n.\r\n"},
	{1, "MAIL FROM:<a@acme.test>\r\nAUTH PLAIN AGFjbWUAc2VjcmV0\r\nRCPT TO:<b@gmail.test>\r\n"},
	// STARTTLS without a certificate configured.
	{2, "STARTTLS\r\n\x16\x03\x01\x00\x05hello\r\nMAIL FROM:<a@acme.test>\r\n"},
	{1, "STARTTLS\r\nMAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nDATA\r\nFrom: a@acme.test\r\n\r\nx\r\n.\r\n"},
	// BDAT (CHUNKING): right, short, long, bad sizes, between chunks.
	{1, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nBDAT 12 LAST\r\n\r\nhello bdat"},
	{1, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nBDAT 4\r\n\r\nabBDAT 3 LAST\r\ncd\n"},
	{1, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nBDAT 100 LAST\r\nshort"},
	{1, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nBDAT 2 LAST\r\nmuch longer than two\r\n"},
	{1, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nBDAT -1\r\nBDAT x LAST\r\nBDAT 1 2 3\r\nBDAT\r\nBDAT 99999999999\r\nBDAT 4294967295 LAST\r\n"},
	{1, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nBDAT 3\r\nabcRCPT TO:<c@gmail.test>\r\nMAIL FROM:<a@acme.test>\r\nDATA\r\nRSET\r\nBDAT 1 LAST\r\nx"},
	{1, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nBDAT 3\r\nabcEHLO again\r\nBDAT 1 LAST\r\nx"},
	{1, "BDAT 5 LAST\r\nhello"},
	{1, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nBDAT 70000 LAST\r\n" + strings.Repeat("z", 70000)},
	// DATA with arguments, twice, then the end marker split oddly.
	{1, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\nDATA x\r\nDATA\r\nFrom: a@acme.test\r\n\r\nbody\r\n.\r\nDATA\r\n"},
	// QUIT in the middle, junk after it.
	{1, "NOOP\r\nQUIT\r\nMAIL FROM:<a@acme.test>\r\n"},
	// Too many errors: go-smtp hangs up.
	{1, strings.Repeat("BAD\r\n", 40)},
}

// FuzzSession drives one real submission server over loopback sockets with
// arbitrary client bytes, one connection per input, and checks what a
// client and the queue can rely on (SPEC §3): the server never panics or
// hangs, every reply is well formed (RFC 5321 §4.2, RFC 2034 enhanced
// codes), and the store holds exactly the messages a "250 … queued as ID"
// named, each with the recipients whose RCPT was accepted, and none that
// was not preceded by a successful AUTH (the server must never relay for
// an unauthenticated, untrusted client).
func FuzzSession(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(append([]byte{s.pre}, s.body...))
	}
	e := newEnv(f, nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		pre := ""
		switch {
		case in[0]&1 != 0:
			pre = preAuth
		case in[0]&2 != 0:
			pre = preEHLO
		}
		logsBefore := len(e.logs.String())
		replies := fuzzExchange(t, e.addr, []byte(pre), in[1:])
		if logs := e.logs.String()[logsBefore:]; strings.Contains(logs, "panic") {
			t.Fatalf("server panicked:\n%s", logs)
		}
		queued := checkReplies(t, replies)
		t.Logf("replies:\n%s\nqueued: %v", replies, queued)
		checkStore(t, e, queued)
	})
}

// fuzzExchange connects, sends pre, in and fuzzTrailer, half-closes, and returns
// every byte the server sent until it closed the connection. Replies are
// read while the input is written, so that none is lost when the server
// hangs up early (QUIT or too many errors in the input).
func fuzzExchange(t *testing.T, addr string, pre, in []byte) []byte {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(fuzzDeadline))
	got := make(chan []byte, 1)
	readErr := make(chan error, 1)
	go func() {
		b, err := io.ReadAll(conn)
		got <- b
		readErr <- err
	}()
	// Write errors are the server hanging up before the end of the input:
	// the replies say what it did with the rest.
	w := bytes.Join([][]byte{pre, in, []byte(fuzzTrailer)}, nil)
	conn.Write(w)
	conn.(*net.TCPConn).CloseWrite()
	b := <-got
	if err := <-readErr; err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("server still had the connection open %v after the client half-closed; got so far:\n%s", fuzzDeadline, b)
		}
		// A reset (the server closed with input unread) ends the stream;
		// what came before it was read.
	}
	return b
}

var (
	replyLine    = regexp.MustCompile(`^([2-5][0-9][0-9])([ -])(.*)$`)
	enhancedCode = regexp.MustCompile(`^([245])\.[0-9]{1,3}\.[0-9]{1,3} `)
)

// checkReplies checks that b is a sequence of well formed replies and
// returns the ids of the messages queued, each with the recipients the
// replies accepted for it, in order. A queued message must follow a
// successful AUTH in the same connection (no account trusts loopback).
func checkReplies(t *testing.T, b []byte) map[string][]string {
	t.Helper()
	s := string(b)
	if s != "" && !strings.HasSuffix(s, "\r\n") {
		// A reset can cut the stream mid-line only if the server wrote
		// after the client's input was unread; go-smtp writes whole lines.
		t.Fatalf("reply stream does not end with CRLF: %q", lastN(s, 200))
	}
	lines := strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n")
	if s == "" {
		t.Fatal("no reply at all, not even the greeting")
	}
	queued := map[string][]string{}
	var authed bool
	var rcpts []string
	first := true
	for i := 0; i < len(lines); {
		// One reply: lines "ddd-" then one "ddd ".
		var code string
		var texts []string
		for ; i < len(lines); i++ {
			l := lines[i]
			m := replyLine.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("malformed reply line %q in:\n%s", l, s)
			}
			if strings.ContainsFunc(l, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("reply line with a control character %q", l)
			}
			if code != "" && m[1] != code {
				t.Fatalf("multi-line reply changes code: %q after %s", l, code)
			}
			code = m[1]
			texts = append(texts, m[3])
			if m[2] == " " {
				i++
				break
			}
			if i == len(lines)-1 {
				t.Fatalf("reply ends on a continuation line %q", l)
			}
		}
		last := texts[len(texts)-1]
		greeting := first && code == "220"
		ehlo := code == "250" && len(texts) > 1 && strings.HasPrefix(texts[0], "Hello ")
		first = false
		// RFC 2034 §3: every 2xx, 4xx and 5xx reply but the greeting and
		// EHLO's carries an enhanced code whose class matches.
		if c := code[0]; (c == '2' || c == '4' || c == '5') && !greeting && !ehlo {
			m := enhancedCode.FindStringSubmatch(last)
			if m == nil || m[1][0] != c {
				t.Fatalf("reply %s %q lacks a fitting enhanced status code", code, last)
			}
		}
		switch {
		case code == "235":
			authed = true
		case code == "250" && strings.HasPrefix(last, "2.0.0 Roger, accepting mail from <"):
			rcpts = nil
		case code == "250" && strings.HasPrefix(last, "2.0.0 I'll make sure <"):
			a := strings.TrimSuffix(strings.TrimPrefix(last, "2.0.0 I'll make sure <"), "> gets this")
			rcpts = append(rcpts, a)
		case code == "250" && strings.HasPrefix(last, "2.0.0 "+queuedMessage):
			id := strings.TrimPrefix(last, "2.0.0 "+queuedMessage)
			if !authed {
				t.Fatalf("message %s queued without a successful AUTH: open relay", id)
			}
			if _, dup := queued[id]; dup || id == "" {
				t.Fatalf("queued id %q empty or given twice", id)
			}
			if len(rcpts) == 0 {
				t.Fatalf("message %s queued with no accepted recipient", id)
			}
			queued[id] = rcpts
			rcpts = nil
		case code == "250" && strings.Contains(strings.ToLower(last), "queued"):
			t.Fatalf("acceptance without an id: %q", last)
		}
	}
	return queued
}

// checkStore compares the store with the replies: exactly the queued ids,
// each with its accepted recipients and CRLF-only lines (no bare CR or LF
// a lax receiver could take for the end of DATA). It then empties the
// store for the next input.
func checkStore(t *testing.T, e *env, queued map[string][]string) {
	t.Helper()
	ctx := context.Background()
	list, err := e.store.ListMessages(ctx, queue.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, m := range list {
		stored[m.ID] = true
		t.Cleanup(func() { e.store.Delete(ctx, m.ID) })
		want, ok := queued[m.ID]
		if !ok {
			t.Fatalf("message %s stored, but no 250 reply named it (queued: %v)", m.ID, queued)
		}
		d, err := e.store.GetMessage(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range d.Recipients {
			got = append(got, r.Address)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("message %s stored for %q, the replies accepted %q", m.ID, got, want)
		}
		if d.Account != "acme" {
			t.Fatalf("message %s stored for account %q", m.ID, d.Account)
		}
		body, err := e.store.Body(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(body, []byte(fuzzMarker)) {
			t.Fatalf("message %s stored with the input's trailer in it: the end of the connection ended a message:\n%q", m.ID, lastN(string(body), 200))
		}
		if i := bareLineEnd(body); i >= 0 {
			t.Fatalf("message %s stored with a bare CR or LF at byte %d: %q", m.ID, i, body[max(0, i-20):min(len(body), i+20)])
		}
	}
	for id := range queued {
		if !stored[id] {
			t.Fatalf("reply said queued as %s, but the store has no such message", id)
		}
	}
}

// bareLineEnd returns the index of the first CR not followed by LF or LF
// not preceded by CR in b, or -1.
func bareLineEnd(b []byte) int {
	for i, c := range b {
		switch {
		case c == '\r' && (i+1 == len(b) || b[i+1] != '\n'):
			return i
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			return i
		}
	}
	return -1
}

func lastN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// TestFuzzSeedsQueue keeps the fuzz harness honest: the first seed, a
// plain authenticated submission, is queued and passes every check, and
// the same session without AUTH queues nothing.
func TestFuzzSeedsQueue(t *testing.T) {
	e := newEnv(t, nil)
	body := []byte(fuzzSeeds[0].body)
	queued := checkReplies(t, fuzzExchange(t, e.addr, []byte(preAuth), body))
	if len(queued) != 1 {
		t.Fatalf("authenticated seed queued %v, want one message", queued)
	}
	for _, rcpts := range queued {
		if !slices.Equal(rcpts, []string{"b@gmail.test"}) {
			t.Fatalf("recipients %q", rcpts)
		}
	}
	checkStore(t, e, queued)
	if queued := checkReplies(t, fuzzExchange(t, e.addr, []byte(preEHLO), body)); len(queued) != 0 {
		t.Fatalf("unauthenticated seed queued %v", queued)
	}
}
