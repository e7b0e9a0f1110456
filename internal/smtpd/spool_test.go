package smtpd

import (
	"context"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sendpool/internal/spool"
)

// TestDataSpooled: a message over the spool's threshold goes through a
// spool file over a real socket and is stored in chunks, its bytes those
// sent (bare LFs made CRLF) under the Received field; no spool file is
// left once the 250 is sent.
func TestDataSpooled(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	sp, err := spool.Open(dir, 4096)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.Spool, c.MaxMessageSize = sp, 4<<20 })
	data := strings.Repeat("a line of the large message, long enough to fill it up.\r\n", 40000) +
		"bare\nlf\r\n..dot\r\n"
	c := dialRaw(t, e.addr)
	c.must("EHLO client.test", 250, "")
	c.must("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00acme\x00secret")), 235, "2.0.0")
	c.must("MAIL FROM:<a@acme.test> SIZE=4000000", 250, "2.0.0") // SIZE= allocates nothing
	c.must("RCPT TO:<b@gmail.test>", 250, "2.0.0")
	c.must("DATA", 354, "")
	c.writeRaw(testBody + data + ".\r\n")
	code, msg := c.reply()
	if code != 250 {
		t.Fatalf("end of data: %d %s", code, msg)
	}
	id := queuedID(t, msg)
	want := testBody + strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\n", "\r\n")
	want = strings.ReplaceAll(want, "\r\n..dot", "\r\n.dot") // the dot-stuffing undone
	body := e.messages()[id]
	if !strings.HasPrefix(body, "Received: from client.test") || !strings.HasSuffix(body, "\r\n"+want) {
		i := 0
		for i < len(want) && i < len(body) && body[len(body)-1-i] == want[len(want)-1-i] {
			i++
		}
		t.Fatalf("stored body of %d bytes is not the Received field and the %d bytes sent: differ %d from the end: %.80q vs %.80q", len(body), len(want), i, body[max(0, len(body)-i-40):], want[max(0, len(want)-i-40):])
	}
	sb, err := e.store.OpenBody(context.Background(), id)
	if err != nil || sb.Open == nil || sb.Size != int64(len(body)) {
		t.Fatalf("a spooled body is not stored in chunks: %+v %v", sb.Size, err)
	}
	r, _ := sb.Open()
	got, err := io.ReadAll(r)
	if err != nil || string(got) != body {
		t.Fatalf("chunks read %d bytes (%v), want %d", len(got), err, len(body))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spool files left: %v", ents)
	}
}
