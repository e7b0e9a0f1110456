// Package sandbox is a loopback world for the demo and for tests: a DNS
// server and receiving MX sinks that can be told to reply anything.
package sandbox

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"
)

// The stages a Rule or a handler can script.
const (
	StageGreeting = "greeting"
	StageEHLO     = "ehlo" // EHLO and HELO
	StageMail     = "mail"
	StageRcpt     = "rcpt"
	StageData     = "data" // the DATA command
	StageEOD      = "eod"  // the end of data, after <CRLF>.<CRLF>
)

// SinkConfig configures a Sink.
type SinkConfig struct {
	Addr string // e.g. "127.0.0.11:2526"; empty: 127.0.0.1 on any port
	// Listener, when set, is used instead of listening on Addr: a caller
	// that had to hold the port (World, one port on many addresses) hands
	// it over rather than closing it and racing others to bind it again.
	Listener net.Listener
	Hostname string // in the banner and the EHLO reply; default "sink.test"
	TLS      *tls.Config
	Logger   *slog.Logger
	// Discard counts accepted messages instead of keeping them, for load
	// runs that would otherwise hold every body: only the first message is
	// kept (to show what arrived), connections are not recorded, and no
	// attempt counts are kept (Rule.Attempt never matches).
	Discard bool
	// Parse reads each message's header before the 250, as a receiving
	// MX does (net/mail), and counts what it found (ParseStats); with Log
	// it also writes one line per message there. Memory stays bound: the
	// parse keeps nothing but counts.
	Parse bool
	// Log, with Parse, gets one line per accepted message, through a
	// buffer that Close flushes. The sink does not close it.
	Log io.Writer
}

// Conn is one connection a sink accepted.
type Conn struct {
	SourceIP string
	EHLO     string // the last EHLO/HELO name given
	TLS      bool   // STARTTLS completed
	// TLSResumed: the TLS session was resumed (a ticket from an earlier
	// connection), not a full handshake.
	TLSResumed bool
	At         time.Time
	// Groups are the command verbs received, upper case, grouped by
	// arrival: a group is the commands read without waiting for more
	// input, as an RFC 2920 pipelining client sends them in one write. A
	// lock-step client's groups have one command each.
	Groups [][]string
}

// Message is one message a sink accepted (250 after the data).
type Message struct {
	SourceIP string
	EHLO     string
	TLS      bool
	From     string
	To       []string
	Data     []byte // unstuffed, CRLF line endings as received
	At       time.Time
}

// Sink is a receiving SMTP server that records everything and replies what
// it is told. It is written on net and bufio, not a server library, so that
// it can misbehave anywhere, the greeting included.
type Sink struct {
	cfg  SinkConfig
	log  *slog.Logger
	ln   net.Listener
	done chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	conns    []*Conn
	messages []Message
	received int           // messages accepted, kept or not
	last     time.Time     // when the last one was
	changed  chan struct{} // closed and replaced when a message arrives
	rules    []sinkRule
	handler  func(Event) *Reply
	counts   map[sinkCountKey]int
	open     map[net.Conn]struct{}
	closed   bool
	parsed   ParseStats
	logw     *bufio.Writer // SinkConfig.Log, buffered; nil: none
	logErr   error         // the first error writing it
	tls      *tls.Config   // SinkConfig.TLS, or what SetTLS put instead
}

type sinkRule struct {
	Rule
	used int
}

type sinkCountKey struct{ stage, who string }

// NewSink listens on cfg.Addr and serves until Close.
func NewSink(cfg SinkConfig) (*Sink, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "sink.test"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, err
		}
	}
	s := &Sink{
		cfg:     cfg,
		log:     cfg.Logger.With("sink", ln.Addr().String()),
		ln:      ln,
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		counts:  map[sinkCountKey]int{},
		open:    map[net.Conn]struct{}{},
		tls:     cfg.TLS,
	}
	if cfg.Parse && cfg.Log != nil {
		s.logw = bufio.NewWriterSize(cfg.Log, sinkLogBuffer)
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the address the sink listens on, "ip:port".
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Close stops the sink, closes its connections and waits for them, then
// flushes the log (SinkConfig.Log): its error, or the first error writing
// the log, is returned.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	if s.logw != nil {
		s.mu.Lock()
		if ferr := s.logw.Flush(); s.logErr == nil {
			s.logErr = ferr
		}
		err = errors.Join(err, s.logErr)
		s.mu.Unlock()
	}
	return err
}

func (s *Sink) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("sink accept", "err", err)
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.open[c] = struct{}{}
		ip, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		rec := &Conn{SourceIP: ip, At: time.Now()}
		if !s.cfg.Discard {
			s.conns = append(s.conns, rec)
		}
		s.mu.Unlock()

		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ss := newSinkSession(s, c, rec)
			ss.serve()
			if tc, ok := c.(*net.TCPConn); ok && ss.reset {
				tc.SetLinger(0) // the close sends RST
			}
			c.Close()
			s.mu.Lock()
			delete(s.open, c)
			s.mu.Unlock()
		}()
	}
}

// Conns returns every connection accepted since the start or Reset.
func (s *Sink) Conns() []Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Conn, len(s.conns))
	for i, c := range s.conns {
		out[i] = *c
		out[i].Groups = slices.Clone(c.Groups)
		for j, g := range out[i].Groups {
			out[i].Groups[j] = slices.Clone(g)
		}
	}
	return out
}

// ConnsFrom counts the connections accepted from source address ip.
func (s *Sink) ConnsFrom(ip string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.conns {
		if c.SourceIP == ip {
			n++
		}
	}
	return n
}

// Messages returns every message accepted since the start or Reset.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		m.To = slices.Clone(m.To)
		m.Data = slices.Clone(m.Data)
		out[i] = m
	}
	return out
}

// Received counts the messages accepted since the start or Reset, kept or
// not, and says when the last one was.
func (s *Sink) Received() (n int, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received, s.last
}

// WaitMessages waits until at least n messages have been accepted.
func (s *Sink) WaitMessages(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		have, ch := s.received, s.changed
		s.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Reset forgets the recorded connections and messages and the attempt
// counts. Rules and the handler stay; SetRules() with no rule clears them.
func (s *Sink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns = nil
	s.messages = nil
	s.received, s.last = 0, time.Time{}
	s.parsed = ParseStats{}
	s.counts = map[sinkCountKey]int{}
}

// ParseStats counts what a parsing sink (SinkConfig.Parse) found since
// the start or Reset.
func (s *Sink) ParseStats() ParseStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parsed
}

// SetRules replaces the scripted replies.
func (s *Sink) SetRules(rules ...Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = s.rules[:0]
	for _, r := range rules {
		s.rules = append(s.rules, sinkRule{Rule: r})
	}
}

// SetHandler installs a function asked before the rules at every stage; a
// nil answer falls through to the rules. nil removes it.
func (s *Sink) SetHandler(h func(ev Event) *Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handler = h
}

// record keeps m (or counts it, in Discard mode); p is its parsed header
// when the sink parses (nil when not), logLine its log line.
func (s *Sink) record(m Message, p *parsedMessage, logLine []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p != nil {
		s.parsed.Parsed++
		if !p.ok {
			s.parsed.Failed++
		}
		if len(p.dkim) > 0 {
			s.parsed.Signed++
		}
	}
	if s.logw != nil && s.logErr == nil {
		_, s.logErr = s.logw.Write(logLine)
	}
	if !s.cfg.Discard || len(s.messages) == 0 {
		m.Data = slices.Clone(m.Data) // the session reuses its buffer
		s.messages = append(s.messages, m)
	}
	s.received++
	s.last = m.At
	close(s.changed)
	s.changed = make(chan struct{})
}

// command records verb on rec, in a new group when it had to wait for
// input (Conn.Groups).
func (s *Sink) command(rec *Conn, verb string, waited bool) {
	if s.cfg.Discard {
		return // connections are not kept
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if waited || len(rec.Groups) == 0 {
		rec.Groups = append(rec.Groups, nil)
	}
	g := &rec.Groups[len(rec.Groups)-1]
	*g = append(*g, verb)
}

// SetTLS replaces the TLS configuration STARTTLS uses from the next
// EHLO on (the certificate presented, say); nil stops offering STARTTLS.
func (s *Sink) SetTLS(cfg *tls.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tls = cfg
}

func (s *Sink) tlsConfig() *tls.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tls
}

func (s *Sink) setResumed(rec *Conn, resumed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.TLSResumed = resumed
}

func (s *Sink) setConn(rec *Conn, ehlo string, tls bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.EHLO, rec.TLS = ehlo, tls
}

// wait sleeps for d or until the sink closes.
func (s *Sink) wait(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.done:
	}
}
