package deliver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"sendpool/internal/queue"
)

func TestReplyString(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"250 2.0.0 Ok\r\n", "250 2.0.0 Ok"},
		{"550-5.7.1 Blocked\r\n550-5.7.1 see\r\n550 5.7.1 https://help.test\r\n", "550 5.7.1 Blocked see https://help.test"},
		{"421-mx busy\r\n421 try later\r\n", "421 mx busy try later"},
		{"250\r\n", "250"},
	} {
		c := &client{r: bufio.NewReader(strings.NewReader(tc.in))}
		r, err := c.readReply()
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := r.String(); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestReadReplyMalformed(t *testing.T) {
	for _, in := range []string{"hello\r\n", "250-a\r\n251 b\r\n", "2500 x\r\n", "99 x\r\n", "", "250-" + strings.Repeat("x", maxReplyLine) + "\r\n"} {
		c := &client{r: bufio.NewReader(strings.NewReader(in))}
		if r, err := c.readReply(); err == nil {
			t.Errorf("%.20q: parsed as %v", in, r)
		} else if in == "" && !errors.Is(err, errClosed) {
			t.Errorf("empty input: %v, want errClosed", err)
		}
	}
}

func TestWriteBodyStuffsAndNormalises(t *testing.T) {
	var out bytes.Buffer
	a, b := net.Pipe()
	defer a.Close()
	c := newClient(context.Background(), a)
	go func() {
		c.writeBody([]byte(".one\r\n..two\nthree\r\n.\r\nlast"))
		a.Close()
	}()
	out.ReadFrom(b)
	if want := "..one\r\n...two\r\nthree\r\n..\r\nlast\r\n.\r\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestBasicClassifier(t *testing.T) {
	for reply, want := range map[string]queue.Verdict{
		"250 2.0.0 Ok":               queue.VerdictDelivered,
		"451 4.7.1 Try again later":  queue.VerdictDeferred,
		"550 5.1.1 No such user":     queue.VerdictPermanent,
		"dial tcp: i/o timeout":      queue.VerdictDeferred,
		"EOF":                        queue.VerdictDeferred,
		"connection reset by peer":   queue.VerdictDeferred,
		"354 go ahead":               queue.VerdictDeferred,
		"554-5.7.1 multi line start": queue.VerdictPermanent,
	} {
		if got := (basicClassifier{}).Classify(StageRcpt, "mx.test", reply).Verdict; got != want {
			t.Errorf("%q: %s, want %s", reply, got, want)
		}
	}
}
