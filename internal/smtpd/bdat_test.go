package smtpd

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// sendHalfClosed sends a whole session, closes the client's side and
// returns every reply until the server closes.
func sendHalfClosed(t *testing.T, addr, session string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, session); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("reading replies: %v (got %q)", err, b)
	}
	return string(b)
}

// TestBDATCutShort: a BDAT chunk the end of the connection cuts short is
// not a message (RFC 3030 §2), however the client left. go-smtp copies the
// chunk with io.Copy, which takes EOF for its end: without the check in
// Data the truncated message was queued, and the client, having got no
// 250, would send it again. The same session with the whole chunk, or a
// DATA ended by <CRLF>.<CRLF>, from a client that half-closes right after
// it, is queued.
func TestBDATCutShort(t *testing.T) {
	e := newEnv(t, nil)
	const head = "EHLO client.test\r\nAUTH PLAIN AGFjbWUAc2VjcmV0\r\nMAIL FROM:<a@acme.test>\r\nRCPT TO:<b@gmail.test>\r\n"
	tests := []struct {
		name, session string
		queued        bool
	}{
		{"bdat short", head + "BDAT 100 LAST\r\nSubject: cut\r\n\r\nshort", false},
		{"bdat short after a chunk", head + "BDAT 5\r\nhelloBDAT 100 LAST\r\nshort", false},
		{"bdat whole", head + "BDAT 31 LAST\r\nFrom: a@acme.test\r\n\r\nhello bdat", true},
		{"bdat chunks", head + "BDAT 21\r\nFrom: a@acme.test\r\n\r\nBDAT 10 LAST\r\nhello bdat", true},
		{"data", head + "DATA\r\nFrom: a@acme.test\r\n\r\nhello\r\n.\r\n", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.messages())
			replies := sendHalfClosed(t, e.addr, tc.session)
			queued := strings.Contains(replies, " 2.0.0 "+queuedMessage)
			stored := len(e.messages()) - before
			if queued != tc.queued || stored != map[bool]int{true: 1}[tc.queued] {
				t.Fatalf("queued reply %v, %d stored; want queued %v\n%s", queued, stored, tc.queued, replies)
			}
			if !tc.queued && !strings.Contains(replies, "451 4.4.2 ") {
				t.Errorf("no 451 4.4.2 for the cut message:\n%s", replies)
			}
		})
	}
}

// TestRepliesAreText: go-smtp echoes an unknown verb and the EHLO name into
// its replies; control characters in them come back as '?' (cleanReply),
// found by FuzzSession (testdata/fuzz/FuzzSession/098ff17dd78c2334).
func TestRepliesAreText(t *testing.T) {
	e := newEnv(t, nil)
	replies := sendHalfClosed(t, e.addr, "\r000\r\nX\x00\x1bY\r\nHELO a\x1b[31m\x7f\r\nEHLO b\x01\r\nQUIT\r\n")
	for _, want := range []string{"500 5.5.2 Syntax errors, ?000 command unrecognized\r\n",
		"500 5.5.2 Syntax errors, X??Y command unrecognized\r\n", "250 2.0.0 Hello a?[31m?\r\n", "250-Hello b?\r\n"} {
		if !strings.Contains(replies, want) {
			t.Errorf("replies lack %q:\n%q", want, replies)
		}
	}
}
