package smtpd

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"sendpool/internal/received"
)

// TestDataBodyExact: the stored body is the Received header and then the
// data byte for byte, with and without SIZE, and when the header is longer
// than the room Data keeps for it in front of the data.
func TestDataBodyExact(t *testing.T) {
	long := strings.Repeat("abcdefghi.", received.Room/10) + "test" // the header outgrows received.Room
	data := strings.Repeat("line of the message body, 76 characters or so, to make it bigger.\r\n", 500)
	size := fmt.Sprintf(" SIZE=%d", len(testBody+data))
	for _, tc := range []struct{ name, hostname, size string }{
		{"size", "", size},
		{"no size", "", ""},
		{"long header", long, size},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) {
				if tc.hostname != "" {
					c.Hostname = tc.hostname
				}
			})
			c := dialRaw(t, e.addr)
			c.must("EHLO client.test", 250, "")
			c.must("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00acme\x00secret")), 235, "2.0.0")
			c.must("MAIL FROM:<a@acme.test>"+tc.size, 250, "2.0.0")
			c.must("RCPT TO:<b@gmail.test>", 250, "2.0.0")
			c.must("DATA", 354, "")
			c.writeRaw(testBody + data + ".\r\n")
			code, msg := c.reply()
			if code != 250 {
				t.Fatalf("end of data: %d %s", code, msg)
			}
			body := e.messages()[queuedID(t, msg)]
			head, rest, ok := strings.Cut(body, "\r\n\r\n")
			if !ok || !strings.HasPrefix(head, "Received: from client.test ([127.0.0.1])\r\n\tby ") {
				t.Fatalf("no Received header first:\n%.300q", body)
			}
			if tc.hostname != "" && (!strings.Contains(head, "\tby "+tc.hostname+" ") || len(head) <= received.Room) {
				t.Fatalf("Received header of %d bytes does not name the long host name", len(head))
			}
			if want := testBody + data; !strings.HasSuffix(body, "\r\n"+want) {
				t.Errorf("data not kept byte for byte after the header (%d bytes after it, want %d)", len(rest), len(want))
			}
		})
	}
}
