package smtpserve

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"sendpool/internal/connlimit"
)

// Bounds are what one client, or many, can make the server hold (issue
// 13). A zero value leaves that bound off.
type Bounds struct {
	// MaxConnections and MaxConnectionsPerIP cap the open connections, in
	// all and from one client (an IPv6 client's /64): a connection past
	// either gets 421 4.7.0 instead of the greeting and is closed.
	MaxConnections      int
	MaxConnectionsPerIP int
	// MaxHeaderSize caps a message's header section as it arrives:
	// past it, 552 5.3.4 without buffering the rest.
	MaxHeaderSize int64
	// LoginTimeout is how long a session may go on before it has
	// authenticated or had a MAIL accepted; then the read in progress
	// times out and go-smtp answers 421 4.4.2 and hangs up.
	LoginTimeout time.Duration
	// MaxJunkCommands (NOOP, RSET, VRFY) and MaxErrors (commands refused
	// as bad: 500-504, 530, 538) since the session's last accepted
	// message: past either, 421 4.7.0 and the connection is closed, as
	// Postfix's smtpd_junk_command_limit and smtpd_hard_error_limit do.
	// Recipients refused by policy are not errors: a customer's list may
	// hold many suppressed addresses.
	MaxJunkCommands int
	MaxErrors       int
}

// Replies of the bounds. None repeats an error's text: a Go error names
// socket addresses and internals, which the client has no use for (they
// go to the log).
var (
	// RFC 3463 X.4.2: bad connection; 4xx, so the client keeps the
	// message and tries again (SPEC §3).
	ErrDataTimeout = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2},
		Message: "Timeout waiting for message data"}
	// RFC 1870 §6.2 and RFC 3463 X.3.4: too big for the system.
	ErrHeaderTooBig = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: "Message header section too big"}
	// RFC 3030 §2: a BDAT chunk is exactly its size. One cut short by the
	// end of the connection is no message; RFC 3463 X.4.2: bad connection.
	ErrConnectionEnded = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2},
		Message: "Connection closed before the end of the message"}
)

// bounds is a connection's part of the Bounds.
type bounds struct {
	release func() // its slot in Server.limiter

	loginBy     time.Time   // zero: no login deadline
	busy        atomic.Bool // authenticated, or a MAIL accepted: loginBy is over
	loginLogged atomic.Bool

	// inData: a DATA or BDAT transfer is under way, from a session Data's
	// start to the reply that ends it (go-smtp discards what Data left
	// unread before replying). dataEnded: Data has returned.
	inData, dataEnded atomic.Bool

	// Commands since the last accepted message (wrote).
	junk, errs, replies atomic.Int32
}

// admit takes a slot for c, or answers it 421 4.7.0 and closes it (nil).
func (s *Server) admit(c net.Conn) *Conn {
	client := connlimit.AddrOf(c.RemoteAddr())
	release, err := s.limiter.Acquire(client)
	if err != nil {
		// RFC 5321 §3.1: a server may answer the connection with 421
		// instead of the greeting, then close it. One short line fits
		// the new socket's buffer: this never waits on the client.
		c.SetWriteDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(c, "421 4.7.0 %s Too many connections, try again later\r\n", s.cfg.Hostname)
		c.Close()
		s.refused.note(s.log, client, err)
		return nil
	}
	tc := &Conn{Conn: c, srv: s}
	tc.release = release
	if s.cfg.LoginTimeout > 0 {
		tc.loginBy = time.Now().Add(s.cfg.LoginTimeout)
	}
	return tc
}

// refusalLog logs the connections turned away, at most one line a second
// with the count since the last: a flood must not flood the log as well.
type refusalLog struct {
	key     string // the server's Config.Key
	mu      sync.Mutex
	last    time.Time
	skipped int
}

func (r *refusalLog) note(log *slog.Logger, client netip.Addr, why error) {
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.last) < time.Second {
		r.skipped++
		r.mu.Unlock()
		return
	}
	skipped := r.skipped
	r.last, r.skipped = now, 0
	r.mu.Unlock()
	key := r.key + ".max_connections"
	if errors.Is(why, connlimit.ErrPerIP) {
		key += "_per_ip"
	}
	log.Warn("connection refused", "code", 421, "check", key, "client_ip", client.String(), "also_refused", skipped)
}

// SetReadDeadline keeps every read of a session that has not yet
// authenticated nor started a transaction within its login deadline:
// go-smtp sets a fresh deadline before each command, so a client sending
// NOOP every few minutes would otherwise stay for good.
func (c *Conn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}

// SetDeadline is SetReadDeadline and SetWriteDeadline.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(c.clamp(t))
}

func (c *Conn) clamp(t time.Time) time.Time {
	if c.loginBy.IsZero() || c.busy.Load() {
		return t
	}
	if t.IsZero() || t.After(c.loginBy) {
		return c.loginBy
	}
	return t
}

// MarkBusy ends the login deadline: the session authenticated or had a
// MAIL accepted.
func (c *Conn) MarkBusy() { c.busy.Store(true) }

// readError turns a read error into what go-smtp should see. Inside a
// transfer go-smtp answers an error that is not an *smtp.SMTPError with
// "554 5.0.0 Error: transaction failed: " and its text ("read tcp
// 127.0.0.1:2525->…: i/o timeout"): permanent, which makes the client
// bounce the message, and naming our sockets. So there it becomes 451
// 4.4.2, and the connection is closed after that reply: the stream is out
// of step, and what the client sends next may be the rest of the message,
// which must never be read as commands.
func (c *Conn) readError(err error) error {
	timeout := errors.Is(err, os.ErrDeadlineExceeded)
	if timeout && c.loginExpired() && c.loginLogged.CompareAndSwap(false, true) {
		c.srv.log.Info("session closed", "code", 421, "check", c.srv.cfg.Key+".login_timeout",
			"detail", "no AUTH nor MAIL accepted in time", "client_ip", c.client().String())
	}
	if !c.inData.Load() || errors.Is(err, net.ErrClosed) {
		return err
	}
	reply := ErrConnectionEnded
	if timeout {
		reply = ErrDataTimeout
	}
	if !c.closeAfterWrite.Swap(true) { // once: go-smtp reads again to discard the rest
		c.srv.log.Info("refused", "stage", "data", "code", reply.Code, "detail", err.Error(),
			"client_ip", c.client().String())
	}
	return reply
}

func (c *Conn) loginExpired() bool {
	return !c.loginBy.IsZero() && !c.busy.Load() && !time.Now().Before(c.loginBy)
}

func (c *Conn) client() netip.Addr { return connlimit.AddrOf(c.RemoteAddr()) }

// StartData and EndData bracket a session's Data (inData): read errors
// in between become replies of ours (readError).
func (c *Conn) StartData() { c.dataEnded.Store(false); c.inData.Store(true) }
func (c *Conn) EndData()   { c.dataEnded.Store(true) }

// Accepted restarts the command meter: the session delivered mail.
func (c *Conn) Accepted() {
	c.junk.Store(0)
	c.errs.Store(0)
	c.replies.Store(0)
}

// wrote meters the reply just written (go-smtp writes each reply line
// with one Write) and, past a cap, says 421 and closes the connection.
func (c *Conn) wrote(p []byte) {
	if c.dataEnded.CompareAndSwap(true, false) {
		c.inData.Store(false) // the reply that ends the transfer
	}
	why, key := c.meter(p)
	if why == "" {
		return
	}
	tls := !isReplyLine(p)
	if !tls {
		// After a complete reply: the client reads it as the next one.
		c.Conn.Write([]byte("421 4.7.0 " + why + ", closing connection\r\n"))
	}
	c.srv.log.Info("session closed", "code", 421, "check", key, "detail", why, "tls", tls,
		"client_ip", c.client().String())
	if c.srv.cfg.OnCap != nil {
		c.srv.cfg.OnCap(c, key)
	}
	c.Close()
}

// Replies of go-smtp to the junk commands (NOOP, RSET, VRFY): it has no
// hook for them, so they are known by their reply. A go-smtp that words
// them otherwise fails TestJunkCommandsCapped.
var junkReplies = [][]byte{
	[]byte("250 2.0.0 I have successfully done nothing\r\n"),
	[]byte("250 2.0.0 Session reset\r\n"),
	[]byte("252 2.5.0 Cannot VRFY user"),
}

// meter counts a reply; it returns why the session must end and the key
// of the cap, or "".
//
// Inside TLS the replies are ciphertext: there each record counts, and
// the cap is the sum of every legitimate reply a message needs (the junk
// and error allowances, a reply per recipient, and slack for EHLO's lines
// and the handshake).
func (c *Conn) meter(p []byte) (why, key string) {
	const junk, errs = "Too many commands without mail", "Too many errors"
	b := c.srv.cfg.Bounds
	if b.MaxJunkCommands <= 0 && b.MaxErrors <= 0 {
		return "", ""
	}
	if !isReplyLine(p) {
		limit := b.MaxJunkCommands + b.MaxErrors + c.srv.cfg.MaxRecipients + 20
		if c.replies.Add(1) > int32(limit) {
			return junk, c.srv.cfg.Key + ".max_junk_commands + max_errors (TLS)"
		}
		return "", ""
	}
	if p[3] == '-' {
		return "", "" // a reply's line but the last
	}
	for _, j := range junkReplies {
		if bytes.HasPrefix(p, j) {
			if b.MaxJunkCommands > 0 && c.junk.Add(1) > int32(b.MaxJunkCommands) {
				return junk, c.srv.cfg.Key + ".max_junk_commands"
			}
			return "", ""
		}
	}
	switch string(p[:3]) {
	case "500", "501", "502", "503", "504", "530", "538":
		if b.MaxErrors > 0 && c.errs.Add(1) > int32(b.MaxErrors) {
			return errs, c.srv.cfg.Key + ".max_errors"
		}
	}
	return "", ""
}

// isReplyLine reports whether p is a plaintext reply line: three digits,
// a space or a hyphen, text, CRLF (RFC 5321 §4.2). A TLS record never
// starts with a digit (cleanReply).
func isReplyLine(p []byte) bool {
	return len(p) >= 6 && isDigit(p[0]) && isDigit(p[1]) && isDigit(p[2]) &&
		(p[3] == ' ' || p[3] == '-') && p[len(p)-2] == '\r' && p[len(p)-1] == '\n'
}

// headerLimit fails a message whose header section (up to the first empty
// line, RFC 5322 §2.1) passes limit bytes, as the bytes arrive: nothing
// past the limit is buffered. After the header it only passes reads on.
type headerLimit struct {
	r     io.Reader
	limit int64
	n     int64 // header bytes read
	line  int   // bytes of the current line, CR not counted
	done  bool  // the header section has ended
}

func (h *headerLimit) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if h.done {
		return n, err
	}
	for i, b := range p[:n] {
		if h.n++; h.n > h.limit {
			return i, ErrHeaderTooBig
		}
		switch {
		case b == '\n' && h.line == 0:
			h.done = true
			return n, err
		case b == '\n':
			h.line = 0
		case b != '\r':
			h.line++
		}
	}
	return n, err
}
