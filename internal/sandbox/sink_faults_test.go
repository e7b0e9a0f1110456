package sandbox

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSinkTarpit(t *testing.T) {
	s := newTestSink(t, SinkConfig{Hostname: "t.test"})
	s.SetRules(Rule{Stage: StageGreeting, Reply: "220 t", Tarpit: 30 * time.Millisecond})
	c := sinkDial(t, s, "127.0.0.2")
	start := time.Now()
	c.expect("", "220 t")
	// "220 t\r\n" is 7 bytes: 6 waits between them.
	if d := time.Since(start); d < 6*30*time.Millisecond {
		t.Errorf("tarpitted greeting came in %v, want ≥ 180ms", d)
	}
	c.expect("EHLO a.test", "250")
}

func TestSinkHang(t *testing.T) {
	s := newTestSink(t, SinkConfig{})
	s.SetRules(Rule{Stage: StageEOD, Hang: true})
	c := sinkDial(t, s, "127.0.0.2")
	c.expect("", "220 ")
	c.expect("EHLO a.test", "250")
	c.expect("MAIL FROM:<a@sender.test>", "250 ")
	c.expect("RCPT TO:<x@sink.test>", "250 ")
	c.expect("DATA", "354 ")
	c.write("body\r\n.\r\n")
	c.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if l, err := c.r.ReadString('\n'); err == nil {
		t.Fatalf("a hung sink replied %q", l)
	}
	c.c.Close()
	// The client gave up: the sink lets go and keeps nothing.
	waitIdle(t, s)
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d messages recorded from a hung session", n)
	}
}

func TestSinkResetMidData(t *testing.T) {
	s := newTestSink(t, SinkConfig{})
	s.SetRules(Rule{Stage: StageData, Drop: true, Reset: true})
	c := sinkDial(t, s, "127.0.0.2")
	c.expect("", "220 ")
	c.expect("EHLO a.test", "250")
	c.expect("MAIL FROM:<a@sender.test>", "250 ")
	c.expect("RCPT TO:<x@sink.test>", "250 ")
	c.expect("DATA", "354 ")
	c.write("first line\r\n")
	_, err := c.r.ReadString('\n')
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read after the drop: %v, want a connection reset", err)
	}
}

func TestSinkEndlessReply(t *testing.T) {
	s := newTestSink(t, SinkConfig{})
	s.SetRules(Rule{Stage: StageEHLO, Endless: true})
	c := sinkDial(t, s, "127.0.0.2")
	c.expect("", "220 ")
	c.write("EHLO a.test\r\n")
	for i := range 500 {
		l, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if !strings.HasPrefix(l, "250-") {
			t.Fatalf("line %d: %q, want a continuation", i, l)
		}
	}
	c.c.Close()
	waitIdle(t, s)
}

// waitIdle waits until s holds no connection open.
func waitIdle(t *testing.T, s *Sink) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		n := len(s.open)
		s.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the sink still holds a connection")
}

func TestSinkKeepsWhatItDrops(t *testing.T) {
	s := newTestSink(t, SinkConfig{})
	s.SetRules(Rule{Stage: StageEOD, Drop: true, Keep: true, Reset: true})
	c := sinkDial(t, s, "127.0.0.2")
	c.expect("", "220 ")
	c.expect("EHLO a.test", "250")
	c.expect("MAIL FROM:<a@sender.test>", "250 ")
	c.expect("RCPT TO:<x@sink.test>", "250 ")
	c.expect("DATA", "354 ")
	c.write("body\r\n.\r\n")
	c.closed()
	if n := len(s.Messages()); n != 1 {
		t.Errorf("%d messages recorded, want the one taken before the drop", n)
	}
}
