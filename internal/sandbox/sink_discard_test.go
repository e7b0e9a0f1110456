package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A discarding sink counts every message, keeps only the first, and
// records no connections: a load run's memory stays flat.
func TestSinkDiscard(t *testing.T) {
	s := newTestSink(t, SinkConfig{Discard: true})
	c := sinkDial(t, s, "127.0.0.3")
	c.expect("", "220 ")
	c.expect("EHLO mta1.sender.test", "250-")
	start := time.Now()
	for i := range 3 {
		c.expect("MAIL FROM:<a@sender.test>", "250 ")
		c.expect(fmt.Sprintf("RCPT TO:<r%d@sink.test>", i), "250 ")
		c.expect("DATA", "354 ")
		c.write(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n.\r\n", i))
		c.expect("", "250 2.0.0")
	}
	c.expect("QUIT", "221 ")
	if err := s.WaitMessages(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	n, last := s.Received()
	if n != 3 || last.Before(start) {
		t.Errorf("Received = %d, %v; want 3 since %v", n, last, start)
	}
	msgs := s.Messages()
	if len(msgs) != 1 || string(msgs[0].Data) != "Subject: 0\r\n\r\nbody\r\n" {
		t.Errorf("kept %d messages (%+v), want the first only", len(msgs), msgs)
	}
	if len(s.Conns()) != 0 {
		t.Errorf("%d connections recorded, want none", len(s.Conns()))
	}
	s.Reset()
	if n, _ := s.Received(); n != 0 {
		t.Errorf("after Reset: Received = %d", n)
	}
}

// A parsing sink reads each header as a receiving MX does: it counts the
// signed messages and the malformed ones, logs one line per message, and
// in Discard mode still keeps only the first body.
func TestSinkParse(t *testing.T) {
	var log bytes.Buffer
	s, err := NewSink(SinkConfig{Addr: "127.0.0.1:0", Discard: true, Parse: true, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := sinkDial(t, s, "127.0.0.3")
	c.expect("", "220 ")
	c.expect("EHLO mta1.sender.test", "250-")
	const date = "Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
	msgs := []string{
		"DKIM-Signature: v=1; a=rsa-sha256; d=sender.test;\r\n\ts=s1; b=abc\r\nFrom: A <a@sender.test>\r\n" + date + "Message-ID: <1@sender.test>\r\n\r\nbody\r\n",
		"From: a@sender.test\r\n" + date + "Message-ID: <2@sender.test>\r\n\r\nbody\r\n",
		"From: a@sender.test\r\nMessage-ID: <3@sender.test>\r\n\r\nno date\r\n",
		"this is not a header\r\n\r\nbody\r\n",
	}
	for i, m := range msgs {
		c.expect("MAIL FROM:<a@sender.test>", "250 ")
		c.expect(fmt.Sprintf("RCPT TO:<r%d@sink.test>", i), "250 ")
		c.expect("DATA", "354 ")
		c.write(m + ".\r\n")
		c.expect("", "250 2.0.0")
	}
	c.expect("QUIT", "221 ")
	if err := s.WaitMessages(context.Background(), len(msgs)); err != nil {
		t.Fatal(err)
	}
	if got, want := s.ParseStats(), (ParseStats{Parsed: 4, Failed: 2, Signed: 1}); got != want {
		t.Errorf("ParseStats = %+v, want %+v", got, want)
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("kept %d messages, want 1", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d log lines, want 4:\n%s", len(lines), log.String())
	}
	for i, want := range []string{
		"ip=127.0.0.3 helo=mta1.sender.test tls=false from=<a@sender.test> to=<r0@sink.test> size=",
		"message-id=<2@sender.test> header-from=<a@sender.test> dkim=none status=ok",
		`status=malformed reason="Date: mail: header not in message"`,
		`status=malformed reason="header: `,
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("log line %d %q lacks %q", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[0], "dkim=sender.test/rsa-sha256 status=ok") {
		t.Errorf("log line 0 %q does not show the signature", lines[0])
	}
	s.Reset()
	if got := s.ParseStats(); got != (ParseStats{}) {
		t.Errorf("after Reset: ParseStats = %+v", got)
	}
}

// A world that parses gives each sink its log file, DOMAIN.log in LogDir,
// flushed and closed with the world.
func TestWorldParseLog(t *testing.T) {
	dir := t.TempDir()
	w, err := StartWorld(WorldConfig{Domains: map[string]string{"a.test": "127.0.0.1"}, Discard: true, Parse: true, LogDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c := sinkDial(t, w.Sink("a.test"), "127.0.0.1")
	c.expect("", "220 ")
	c.expect("EHLO mta1.sender.test", "250-")
	c.expect("MAIL FROM:<a@sender.test>", "250 ")
	c.expect("RCPT TO:<r@a.test>", "250 ")
	c.expect("DATA", "354 ")
	c.write("From: a@sender.test\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\n\r\nbody\r\n.\r\n")
	c.expect("", "250 2.0.0")
	c.expect("QUIT", "221 ")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "a.test.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 1 || !strings.Contains(string(b), "to=<r@a.test>") || !strings.Contains(string(b), "status=ok") {
		t.Errorf("a.test.log has %d lines:\n%s", n, b)
	}
}
