package deliver

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"

	"sendpool/internal/queue"
)

// connState is how a connection fared after a transaction.
type connState int

const (
	connOK       connState = iota
	connBroken             // gone or out of step: reconnect for the rest
	connRejected           // 5xx to MAIL: the connection's messages fail
	connBlocked            // the source IP is blocked: stop for the group
)

// send runs one mail transaction (RFC 5321 §3.3) for the leases idx of one
// message, one RCPT each, and records their results. It returns how the
// connection fared and, for connRejected and connBlocked, the outcome to
// give the leases that follow.
func (r *run) send(s *session, idx []int, body queue.StoredBody) (connState, outcome) {
	c := r.c
	start := c.cfg.Now()
	if !s.used {
		start = s.start // the first message pays for the connection
	}
	s.used = true
	at := func(stage, text string) outcome {
		return outcome{start: start, src: s.src.String(), mx: s.mx, addr: s.addr, stage: stage,
			reply: text, note: s.note, class: c.classify(stage, s.mx, text), dest: s.dest, tls: s.tlsInfo}
	}
	broken := func(stage string, err error, idx []int) (connState, outcome) {
		o := at(stage, err.Error())
		r.apply(o, idx...)
		return connBroken, o
	}
	// fail records a refusal; a blocked IP ends the connection.
	fail := func(stage string, rep reply, idx []int) (connState, outcome, bool) {
		o := at(stage, rep.String())
		r.apply(o, idx...)
		if o.class.Verdict == queue.VerdictBlockedIP {
			return connBlocked, o, true
		}
		return connOK, o, false
	}

	first := r.group[idx[0]]
	mail := "MAIL FROM:<" + first.From + ">" + mailParams(s.ext, first.From, r.rcpts(idx), body)
	// RFC 2920 §3.1: with PIPELINING, MAIL, every RCPT and DATA go in one
	// write, DATA last as it changes the session's state; the replies are
	// then read in order, each classified as in lock-step. §3.1's deadlock
	// (a blocking client whose group overflows the window while the server
	// waits to send replies nobody reads) needs far more than a group
	// holds: its replies are a few dozen bytes each, which our socket's
	// receive buffer takes without our reading.
	_, pipelining := s.ext["PIPELINING"]
	s.setDeadline(c.cfg.CommandTimeout)
	s.send("%s", mail)
	if pipelining {
		for _, i := range idx {
			s.send("RCPT TO:<%s>", r.group[i].Recipient)
		}
		s.send("DATA")
	}
	if err := s.flush(); err != nil {
		return broken(StageMail, err, idx)
	}
	rep, err := s.readReply()
	if err != nil {
		return broken(StageMail, err, idx)
	}
	if rep.class() != 2 {
		st, o, stop := fail(StageMail, rep, idx)
		if stop {
			return st, o
		}
		if pipelining {
			// The refused MAIL leaves the replies to the RCPTs and DATA
			// (503 or 554) to read; they concern no transaction.
			if r.drain(s, len(idx)) != nil {
				return connBroken, o
			}
			if r.skipData(s) != nil {
				return connBroken, o
			}
		}
		if rep.class() == 5 {
			return connRejected, o
		}
		return r.reset(s, o)
	}

	var accepted []int
	for _, i := range idx {
		s.setDeadline(c.cfg.CommandTimeout)
		if !pipelining {
			s.send("RCPT TO:<%s>", r.group[i].Recipient)
			if err := s.flush(); err != nil {
				return broken(StageRcpt, err, r.undoneOf(idx))
			}
		}
		rep, err := s.readReply()
		if err != nil {
			return broken(StageRcpt, err, r.undoneOf(idx))
		}
		if rep.class() == 2 {
			accepted = append(accepted, i)
			continue
		}
		if st, o, stop := fail(StageRcpt, rep, []int{i}); stop {
			return st, o
		}
	}
	if len(accepted) == 0 {
		if pipelining {
			// DATA went anyway; its reply is most likely 554 or 503.
			if r.skipData(s) != nil {
				return connBroken, outcome{}
			}
		}
		return r.reset(s, outcome{})
	}

	s.setDeadline(c.cfg.CommandTimeout)
	if !pipelining {
		s.send("DATA")
		if err := s.flush(); err != nil {
			return broken(StageData, err, accepted)
		}
	}
	rep, err = s.readReply()
	if err != nil {
		return broken(StageData, err, accepted)
	}
	if rep.code != codeStartData {
		st, o, stop := fail(StageData, rep, accepted)
		if stop {
			return st, o
		}
		return r.reset(s, o)
	}
	s.setDeadline(c.cfg.DataTimeout)
	if err := s.writeStored(body); err != nil {
		return broken(StageEOD, err, accepted)
	}
	rep, err = s.readReply()
	if err != nil {
		return broken(StageEOD, err, accepted)
	}
	// The reply to the end of data ends the transaction either way.
	o := at(StageEOD, rep.String())
	r.apply(o, accepted...)
	if o.class.Verdict == queue.VerdictBlockedIP {
		return connBlocked, o
	}
	return connOK, o
}

// drain reads and drops n replies to pipelined commands.
func (r *run) drain(s *session, n int) error {
	for range n {
		s.setDeadline(r.c.cfg.CommandTimeout)
		if _, err := s.readReply(); err != nil {
			return err
		}
	}
	return nil
}

// skipData reads the reply to a pipelined DATA sent for a transaction
// left without a recipient (or without MAIL). Should the receiver answer
// 354 all the same, RFC 2920 §3.1 has the client send a single dot: the
// content must not go (RFC 5321 §3.3: no data unless a recipient was
// accepted), and the empty message ends the DATA state. Its reply carries
// no verdict: no recipient is left to give it to.
func (r *run) skipData(s *session) error {
	s.setDeadline(r.c.cfg.CommandTimeout)
	rep, err := s.readReply()
	if err != nil || rep.code != codeStartData {
		return err
	}
	s.setDeadline(r.c.cfg.DataTimeout)
	if err := s.writeBody(); err != nil {
		return err
	}
	_, err = s.readReply()
	return err
}

// reset aborts the open transaction (RFC 5321 §4.1.1.5) so the connection
// can carry the next message.
func (r *run) reset(s *session, o outcome) (connState, outcome) {
	rep, err := s.cmd(r.c.cfg.CommandTimeout, "RSET")
	if err != nil || rep.class() != 2 {
		return connBroken, o
	}
	return connOK, o
}

func (r *run) rcpts(idx []int) []string {
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = r.group[i].Recipient
	}
	return out
}

// mailParams are the MAIL parameters the server's extensions allow: the
// size (RFC 1870), 8BITMIME for 8-bit bodies (RFC 6152) and SMTPUTF8 for
// non-ASCII addresses (RFC 6531). A body stored in chunks (a large one) is
// declared 8-bit without reading it first: a 7-bit body is 8BITMIME
// content too, and reading it twice would double the store's reads.
func mailParams(ext map[string]string, from string, rcpts []string, body queue.StoredBody) string {
	var b strings.Builder
	if _, ok := ext["SIZE"]; ok {
		fmt.Fprintf(&b, " SIZE=%d", body.Size)
	}
	if _, ok := ext["8BITMIME"]; ok && (body.Open != nil || !isASCII(body.Bytes)) {
		b.WriteString(" BODY=8BITMIME")
	}
	if _, ok := ext["SMTPUTF8"]; ok && !isASCIIString(from+strings.Join(rcpts, "")) {
		b.WriteString(" SMTPUTF8")
	}
	return b.String()
}

// isASCII takes the body as it is: string(body) copied it for each
// delivery (at 100 KB it showed in the bench's profile). It reads 32 bytes
// a time: every delivery of a large message reads it whole.
func isASCII(b []byte) bool {
	const high = 0x8080808080808080 // the top bit of each byte
	for len(b) >= 32 {
		w := binary.LittleEndian.Uint64(b) | binary.LittleEndian.Uint64(b[8:]) |
			binary.LittleEndian.Uint64(b[16:]) | binary.LittleEndian.Uint64(b[24:])
		if w&high != 0 {
			return false
		}
		b = b[32:]
	}
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
