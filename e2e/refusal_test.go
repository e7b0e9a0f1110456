package e2e

import (
	"context"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// rawClient speaks SMTP line by line, to see every reply code.
type rawClient struct {
	t  *testing.T
	tp *textproto.Conn
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	tp, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	c := &rawClient{t: t, tp: tp}
	c.expect(220)
	return c
}

// cmd sends a line and returns the reply's code and text.
func (c *rawClient) cmd(line string) (int, string) {
	c.t.Helper()
	if err := c.tp.PrintfLine("%s", line); err != nil {
		c.t.Fatal(err)
	}
	return c.reply()
}

func (c *rawClient) reply() (int, string) {
	c.t.Helper()
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil && code == 0 {
		c.t.Fatal(err)
	}
	return code, msg
}

func (c *rawClient) expect(want int) string {
	c.t.Helper()
	code, msg := c.reply()
	if code != want {
		c.t.Fatalf("reply %d %s, want %d", code, msg, want)
	}
	return msg
}

func (c *rawClient) must(line string, want int) string {
	c.t.Helper()
	code, msg := c.cmd(line)
	if code != want {
		c.t.Fatalf("%s: %d %s, want %d", line, code, msg, want)
	}
	return msg
}

// write sends raw bytes (for DATA with odd line endings).
func (c *rawClient) write(s string) {
	c.t.Helper()
	if _, err := c.tp.W.WriteString(s); err != nil {
		c.t.Fatal(err)
	}
	if err := c.tp.W.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// base64 of "\x00shop1\x00pw-shop1" and of a wrong password.
const (
	authGood = "AUTH PLAIN AHNob3AxAHB3LXNob3AxLXNlY3JldA=="
	authBad  = "AUTH PLAIN AHNob3AxAHdyb25n"
)

// TestSubmissionRefusals: the refusals of SPEC §3 from the running binary,
// and the SMTP smuggling case.
func TestSubmissionRefusals(t *testing.T) {
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, "")
	cfg := strings.Replace(readFile(t, e.config), "[submission]\n", "[submission]\nmax_message_size = \"64KB\"\n", 1)
	writeFile(t, e.config, cfg)
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")

	t.Run("MAIL without AUTH from an untrusted client is 530", func(t *testing.T) {
		c := dialRaw(t, e.smtp)
		c.must("EHLO client.test", 250)
		if code, msg := c.cmd("MAIL FROM:<s@shop1.test>"); code != 530 || !strings.HasPrefix(msg, "5.7.0") {
			t.Errorf("got %d %s", code, msg)
		}
	})
	t.Run("wrong password is 535", func(t *testing.T) {
		c := dialRaw(t, e.smtp)
		c.must("EHLO client.test", 250)
		if code, msg := c.cmd(authBad); code != 535 || !strings.HasPrefix(msg, "5.7.8") {
			t.Errorf("got %d %s", code, msg)
		}
	})
	t.Run("sender domain not the account's is 553", func(t *testing.T) {
		c := dialRaw(t, e.smtp)
		c.must("EHLO client.test", 250)
		c.must(authGood, 235)
		if code, msg := c.cmd("MAIL FROM:<ceo@bank.test>"); code != 553 || !strings.HasPrefix(msg, "5.7.1") {
			t.Errorf("got %d %s", code, msg)
		}
	})
	t.Run("oversize is 552", func(t *testing.T) {
		c := dialRaw(t, e.smtp)
		c.must("EHLO client.test", 250)
		c.must(authGood, 235)
		if code, msg := c.cmd("MAIL FROM:<s@shop1.test> SIZE=100000"); code != 552 || !strings.HasPrefix(msg, "5.3.4") {
			t.Errorf("declared size: got %d %s", code, msg)
		}
		c.must("MAIL FROM:<s@shop1.test>", 250)
		c.must("RCPT TO:<u@gmail.test>", 250)
		c.must("DATA", 354)
		c.write("Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 100) + ".\r\n")
		if code, msg := c.reply(); code != 552 || !strings.HasPrefix(msg, "5.3.4") {
			t.Errorf("actual size: got %d %s", code, msg)
		}
	})
	t.Run("LF.LF inside DATA then MAIL FROM makes one message", func(t *testing.T) {
		before := len(e.world.Sink("gmail.test").Messages())
		c := dialRaw(t, e.smtp)
		c.must("EHLO client.test", 250)
		c.must(authGood, 235)
		c.must("MAIL FROM:<s@shop1.test>", 250)
		c.must("RCPT TO:<u@gmail.test>", 250)
		c.must("DATA", 354)
		c.write("From: s@shop1.test\r\nSubject: one\r\n\r\nfirst\n.\nMAIL FROM:<s@shop1.test>\nRCPT TO:<victim@gmail.test>\nDATA\nSubject: two\n\nsmuggled\n.\n\r\n.\r\n")
		if code, msg := c.reply(); code != 250 {
			t.Fatalf("end of DATA: %d %s", code, msg)
		}
		// The next reply is QUIT's: nothing answered the smuggled commands.
		c.must("QUIT", 221)
		waitFor(t, 10*time.Second, "the message at the sink", func() bool {
			return len(e.world.Sink("gmail.test").Messages()) > before
		})
		time.Sleep(300 * time.Millisecond)
		msgs := e.world.Sink("gmail.test").Messages()[before:]
		if len(msgs) != 1 {
			t.Fatalf("%d messages arrived, want 1", len(msgs))
		}
		if m := msgs[0]; len(m.To) != 1 || m.To[0] != "u@gmail.test" || !strings.Contains(string(m.Data), "\r\nRCPT TO:<victim@gmail.test>\r\n") {
			t.Errorf("arrived to %v: %q", m.To, m.Data)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		list, err := e.api().Messages(ctx, queue.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range list {
			if m.Recipients != 1 {
				t.Errorf("message %s has %d recipients", m.ID, m.Recipients)
			}
		}
	})
	t.Run("a trusted network relays without AUTH", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := e.api().CreateAccount(ctx, accountReq("server7", "", []string{"host7.test"}, []string{"127.0.0.1/32"})); err != nil {
			t.Fatal(err)
		}
		// The trusted-network index refreshes within a second.
		waitFor(t, 5*time.Second, "trusted relay", func() bool {
			return submit(e.smtp, "", "", "www@host7.test", []string{"u@gmail.test"}, message("www@host7.test", "u@gmail.test", "trusted")) == nil
		})
	})
}
