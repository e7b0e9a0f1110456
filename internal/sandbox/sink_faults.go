package sandbox

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The misbehaviours a Rule can script beyond a reply, a delay and a drop:
// what receivers do to senders in the wild (tarpits, hung servers, replies
// without end).

// sinkEndlessPace is the pause between the lines of an endless reply: fast
// enough that a client's cap on lines is reached within a second, slow
// enough not to spin a core.
const sinkEndlessPace = time.Millisecond

var errSinkEndless = errors.New("endless reply ended")

// send writes a scripted reply the way r says: endless, tarpitted, or at
// once.
func (ss *sinkSession) send(r *Reply, text string) error {
	switch {
	case r.Endless:
		ss.endless(text)
		return errSinkEndless
	case r.Tarpit > 0:
		return ss.tarpit(formatReply(text), r.Tarpit)
	}
	return ss.reply(text)
}

// tarpit writes b one byte at a time, every apart; it stops when the sink
// closes or the client has gone.
func (ss *sinkSession) tarpit(b []byte, every time.Duration) error {
	if err := ss.w.Flush(); err != nil {
		return err
	}
	for i, c := range b {
		if i > 0 {
			ss.s.wait(every)
		}
		if ss.s.closing() {
			return net.ErrClosed
		}
		ss.w.WriteByte(c)
		if err := ss.w.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// endless writes continuation lines of text's code until the client
// closes the connection or the sink closes.
func (ss *sinkSession) endless(text string) {
	code := "250"
	if len(text) >= 3 {
		code = text[:3]
	}
	for i := 0; !ss.s.closing(); i++ {
		fmt.Fprintf(ss.w, "%s-endless line %d\r\n", code, i)
		if ss.w.Flush() != nil {
			return
		}
		ss.s.wait(sinkEndlessPace)
	}
}

// hang holds the connection without a word until the client closes it or
// the sink closes (Close closes every open connection).
func (ss *sinkSession) hang() {
	ss.w.Flush()
	ss.c.SetReadDeadline(time.Time{})
	io.Copy(io.Discard, ss.c)
}

// closing says whether Close has begun.
func (s *Sink) closing() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}
