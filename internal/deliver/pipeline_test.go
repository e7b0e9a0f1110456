package deliver

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
)

// noPipelining is an EHLO reply without PIPELINING: the client must go in
// lock-step.
var noPipelining = sandbox.Rule{Stage: sandbox.StageEHLO, Reply: "250-mx.gmail.test\n250-8BITMIME\n250 ENHANCEDSTATUSCODES"}

// groups returns the sink's command groups on its only connection.
func groups(t *testing.T, s *sandbox.Sink) [][]string {
	t.Helper()
	conns := s.Conns()
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1", len(conns))
	}
	return conns[0].Groups
}

func hasGroup(gs [][]string, want ...string) bool {
	return slices.ContainsFunc(gs, func(g []string) bool { return slices.Equal(g, want) })
}

// onlyCommands fails when the sink read anything but these commands: a
// line of message content sent where a command was due shows up as a verb.
func onlyCommands(t *testing.T, gs [][]string) {
	t.Helper()
	for _, g := range gs {
		for _, v := range g {
			if !slices.Contains([]string{"EHLO", "MAIL", "RCPT", "DATA", "RSET", "QUIT"}, v) {
				t.Errorf("the sink read %q as a command (groups %q)", v, gs)
			}
		}
	}
}

func TestPipelinedMixedRcptReplies(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	s.SetRules(
		sandbox.Rule{Stage: sandbox.StageRcpt, Rcpt: "later@gmail.test", Reply: "450 4.2.1 Mailbox busy, try later"},
		sandbox.Rule{Stage: sandbox.StageRcpt, Rcpt: "nobody@gmail.test", Reply: "550 5.1.1 No such user"},
	)
	body := "Subject: mixed\r\n\r\nhello\r\n"
	res := deliver(t, w.courier(nil), w.message("m1", body, "a@gmail.test", "later@gmail.test", "nobody@gmail.test", "b@gmail.test"))

	wantVerdict(t, res, queue.VerdictDelivered, queue.VerdictDeferred, queue.VerdictPermanent, queue.VerdictDelivered)
	for i, want := range []string{"250 2.0.0 Ok", "450 4.2.1 Mailbox busy, try later", "550 5.1.1 No such user", "250 2.0.0 Ok"} {
		if got := res[i].Attempt.Response; !strings.HasPrefix(got, want) {
			t.Errorf("recipient %d: response %q, want %q", i, got, want)
		}
	}
	msgs := s.Messages()
	if len(msgs) != 1 || strings.Join(msgs[0].To, " ") != "a@gmail.test b@gmail.test" || string(msgs[0].Data) != body {
		t.Fatalf("messages %+v", msgs)
	}
	// RFC 2920: MAIL, the four RCPTs and DATA arrived in one read; the
	// body waited for the 354.
	gs := groups(t, s)
	if !hasGroup(gs, "MAIL", "RCPT", "RCPT", "RCPT", "RCPT", "DATA") {
		t.Errorf("no pipelined MAIL..DATA group: %q", gs)
	}
	onlyCommands(t, gs)
}

func TestPipelinedAllRcptsRefused(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	s.SetRules(sandbox.Rule{Stage: sandbox.StageRcpt, Rcpt: "x@gmail.test", Reply: "550 5.1.1 No such user"},
		sandbox.Rule{Stage: sandbox.StageRcpt, Rcpt: "y@gmail.test", Reply: "451 4.3.0 Try later"})
	// Were m1's content sent after the sink's 554 to DATA, its lines would
	// be read as commands: "CANARY:" would show among the verbs.
	m1 := w.message("m1", "Canary: 1\r\n\r\nCanary body\r\n", "x@gmail.test", "y@gmail.test")
	m2 := w.message("m2", "Subject: two\r\n\r\nsecond\r\n", "b@gmail.test")
	res := deliver(t, w.courier(nil), m1, m2)

	wantVerdict(t, res, queue.VerdictPermanent, queue.VerdictDeferred, queue.VerdictDelivered)
	msgs := s.Messages()
	if len(msgs) != 1 || string(msgs[0].Data) != "Subject: two\r\n\r\nsecond\r\n" {
		t.Fatalf("messages %+v", msgs)
	}
	// One connection carried both: RSET after the empty transaction, then
	// the next message, pipelined again.
	gs := groups(t, s)
	i := slices.IndexFunc(gs, func(g []string) bool { return slices.Equal(g, []string{"MAIL", "RCPT", "RCPT", "DATA"}) })
	if i < 0 || i+2 >= len(gs) || !slices.Equal(gs[i+1], []string{"RSET"}) || !slices.Equal(gs[i+2], []string{"MAIL", "RCPT", "DATA"}) {
		t.Errorf("groups %q, want MAIL RCPT RCPT DATA | RSET | MAIL RCPT DATA", gs)
	}
	onlyCommands(t, gs)
}

func TestPipelinedMailRefusedReadsTheGroupsReplies(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	s.SetRules(sandbox.Rule{Stage: sandbox.StageMail, Times: 1, Reply: "451 4.3.0 Try later"})
	m1 := w.message("m1", "Canary: 1\r\n\r\nx\r\n", "a@gmail.test", "b@gmail.test")
	m2 := w.message("m2", "y\r\n", "c@gmail.test")
	res := deliver(t, w.courier(nil), m1, m2)

	// The MAIL reply is every recipient's; the 503s to the RCPTs and DATA
	// that followed are read and dropped, and the connection goes on.
	wantVerdict(t, res, queue.VerdictDeferred, queue.VerdictDeferred, queue.VerdictDelivered)
	for _, r := range res[:2] {
		if r.Attempt.Response != "451 4.3.0 Try later" {
			t.Errorf("response %q", r.Attempt.Response)
		}
	}
	gs := groups(t, s)
	if !hasGroup(gs, "MAIL", "RCPT", "RCPT", "DATA") || !hasGroup(gs, "RSET") || !hasGroup(gs, "MAIL", "RCPT", "DATA") {
		t.Errorf("groups %q", gs)
	}
	onlyCommands(t, gs)
}

func TestLockStepWithoutPipelining(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	s.SetRules(noPipelining,
		sandbox.Rule{Stage: sandbox.StageRcpt, Rcpt: "later@gmail.test", Reply: "450 4.2.1 Mailbox busy"},
		sandbox.Rule{Stage: sandbox.StageRcpt, Rcpt: "nobody@gmail.test", Reply: "550 5.1.1 No such user"},
	)
	m1 := w.message("m1", "Canary: 1\r\n\r\nx\r\n", "nobody@gmail.test")
	m2 := w.message("m2", "Subject: two\r\n\r\n.dot\r\n", "a@gmail.test", "later@gmail.test", "nobody@gmail.test")
	res := deliver(t, w.courier(nil), m1, m2)

	wantVerdict(t, res, queue.VerdictPermanent, queue.VerdictDelivered, queue.VerdictDeferred, queue.VerdictPermanent)
	msgs := s.Messages()
	if len(msgs) != 1 || strings.Join(msgs[0].To, " ") != "a@gmail.test" || string(msgs[0].Data) != "Subject: two\r\n\r\n.dot\r\n" {
		t.Fatalf("messages %+v", msgs)
	}
	// Each command waited for the reply to the one before.
	gs := groups(t, s)
	for _, g := range gs {
		if len(g) != 1 {
			t.Errorf("a group of %d commands without PIPELINING: %q", len(g), gs)
		}
	}
	var verbs []string
	for _, g := range gs {
		verbs = append(verbs, g...)
	}
	// m1: MAIL, RCPT refused, no DATA, RSET; m2: MAIL, 3 RCPT, DATA.
	if want := "EHLO MAIL RCPT RSET MAIL RCPT RCPT RCPT DATA"; !strings.HasPrefix(strings.Join(verbs, " "), want) {
		t.Errorf("commands %q, want %s", verbs, want)
	}
	onlyCommands(t, gs)
}

// TestPipelinedBodyExact sends bodies that need dot-stuffing, over and
// under the write buffer's size, and finds them at the sink as stored.
func TestPipelinedBodyExact(t *testing.T) {
	big := func(n int) string {
		var b strings.Builder
		b.WriteString("Subject: big\r\n\r\n")
		for i := 0; b.Len() < n; i++ {
			switch i % 7 {
			case 0:
				b.WriteString(".leading dot " + strconv.Itoa(i) + "\r\n")
			case 3:
				b.WriteString(".\r\n") // a lone dot: must not end the data
			case 5:
				b.WriteString("..two dots\r\n")
			default:
				b.WriteString(strings.Repeat("x", 70) + "\r\n")
			}
		}
		return b.String()
	}
	for _, pipelining := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			w := newWorld(t)
			s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
			w.mx("gmail.test", "mx.gmail.test")
			if !pipelining {
				s.SetRules(noPipelining)
			}
			// The last two are read as a stream of short reads, as a
			// store's chunks are (issue 13).
			bodies := []string{".\r\n", "a\r\n.\r\n..\r\n", big(10 << 10), big(100 << 10), big(3 << 20), "x\r\n.\r\n"}
			var group [][]*queue.Lease
			for i, b := range bodies {
				id := "m" + strconv.Itoa(i)
				if i >= 4 {
					id = "chunked" + id
				}
				group = append(group, w.message(id, b, "a@gmail.test"))
			}
			res := deliver(t, w.courier(nil), group...)
			wantVerdict(t, res, queue.VerdictDelivered, queue.VerdictDelivered, queue.VerdictDelivered, queue.VerdictDelivered,
				queue.VerdictDelivered, queue.VerdictDelivered)
			msgs := s.Messages()
			if len(msgs) != len(bodies) {
				t.Fatalf("%d messages, want %d", len(msgs), len(bodies))
			}
			for i, m := range msgs {
				if string(m.Data) != bodies[i] {
					t.Errorf("message %d: %d bytes arrived, not the %d stored", i, len(m.Data), len(bodies[i]))
				}
			}
		})
	}
}

// TestPipelinedDataAcceptedWithoutRecipients is a receiver that answers
// 354 to a pipelined DATA though it refused every RCPT: RFC 2920 §3.1 has
// the client send a single dot, not the message.
func TestPipelinedDataAcceptedWithoutRecipients(t *testing.T) {
	w := newWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.102:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	w.port, _ = strconv.Atoi(port)
	w.host("mx.broken.test", "127.0.0.102")
	w.mx("broken.test", "mx.broken.test")

	lines := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			lines <- nil
			return
		}
		defer c.Close()
		var got []string
		r := bufio.NewReader(c)
		say := func(s string) { c.Write([]byte(s + "\r\n")) }
		say("220 mx.broken.test ESMTP")
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				break
			}
			l = strings.TrimRight(l, "\r\n")
			got = append(got, l)
			verb, _, _ := strings.Cut(strings.ToUpper(l), " ")
			switch {
			case verb == "EHLO":
				say("250-mx.broken.test\r\n250 PIPELINING")
			case verb == "MAIL", verb == "RSET":
				say("250 2.0.0 Ok")
			case verb == "RCPT":
				say("550 5.1.1 No such user")
			case verb == "DATA":
				say("354 Go ahead") // wrongly: no recipient was accepted
			case l == ".":
				say("554 5.5.1 No valid recipients")
			case verb == "QUIT":
				say("221 Bye")
				lines <- got
				return
			default:
				say("500 5.5.2 What?")
			}
		}
		lines <- got
	}()

	c := w.courier(func(c *Config) { c.MessagesPerConnection = 1 }) // QUIT after the message
	res := deliver(t, c, w.message("m1", "Canary: 1\r\n\r\nbody\r\n", "x@broken.test"))
	wantVerdict(t, res, queue.VerdictPermanent)
	if res[0].Attempt.Response != "550 5.1.1 No such user" {
		t.Errorf("response %q", res[0].Attempt.Response)
	}
	got := <-lines
	i := slices.Index(got, "DATA")
	if i < 0 || !slices.Equal(got[i:], []string{"DATA", ".", "RSET", "QUIT"}) {
		t.Errorf("the receiver read %q, want DATA, a single dot, RSET, QUIT", got)
	}
}
