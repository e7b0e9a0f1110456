package sandbox

import (
	"context"
	"fmt"
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
