package smtpserve

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// nopSession takes nothing.
type nopSession struct{ attached any }

func (nopSession) Mail(string, *smtp.MailOptions) error { return nil }
func (nopSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (nopSession) Data(io.Reader) error                 { return nil }
func (nopSession) Reset()                               {}
func (nopSession) Logout() error                        { return nil }

// TestGreetAndCap: Greet runs before the banner and may refuse the
// connection with its own reply or attach a value the sessions see;
// OnCap is told of a session a bound ended.
func TestGreetAndCap(t *testing.T) {
	var mu sync.Mutex
	var seen []any
	var capped []string
	srv, err := New(Config{
		Hostname: "mx.test",
		Backend: smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
			mu.Lock()
			seen = append(seen, ConnOf(c).Attached())
			mu.Unlock()
			return nopSession{}, nil
		}),
		Greet: func(c *Conn) bool {
			buf := make([]byte, 1)
			c.Conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if n, _ := c.Conn.Read(buf); n > 0 {
				c.Conn.Write([]byte("554 5.7.1 talked first\r\n"))
				return false
			}
			c.Conn.SetReadDeadline(time.Time{})
			c.Attach("greeted " + c.Client().String())
			return true
		},
		OnCap:  func(c *Conn, key string) { mu.Lock(); capped = append(capped, key); mu.Unlock() },
		Key:    "test",
		Bounds: Bounds{MaxErrors: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("EHLO early\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.HasPrefix(line, "554 5.7.1 talked first") {
		t.Fatalf("a client talking first got %q", line)
	}

	c, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "220 mx.test") {
		t.Fatalf("banner %q", line)
	}
	c.Write([]byte("HELO client.test\r\n"))
	r.ReadString('\n')
	for range 3 {
		c.Write([]byte("BOGUS\r\n"))
	}
	var last string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			break
		}
		last = l
	}
	if !strings.HasPrefix(last, "421 4.7.0 Too many errors") {
		t.Fatalf("after 3 errors: %q", last)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "greeted 127.0.0.1" {
		t.Fatalf("sessions saw %v", seen)
	}
	if len(capped) != 1 || capped[0] != "test.max_errors" {
		t.Fatalf("OnCap told %v", capped)
	}
}
