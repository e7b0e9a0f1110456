package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LoadConfig is one load generator run: Sessions concurrent SMTP sessions
// that share N messages between them, each session sending one message
// after another over its connection.
type LoadConfig struct {
	Addr     string // submission address
	User     string // AUTH PLAIN identity; empty: no AUTH (trusted network)
	Password string
	From     string   // envelope and header sender
	Domains  []string // recipient domains, used in turn
	N        int      // messages
	Sessions int
	Size     int    // message size in bytes, headers included
	RunID    string // makes Message-IDs unique across runs
	// Plain is a client that does not pipeline: MAIL, RCPT and DATA each
	// wait for their reply, as go-smtp's client and many hosting servers'
	// MTAs send. Otherwise the three go in one write (RFC 2920), and the
	// server must offer PIPELINING.
	Plain bool
	// PerConn is how many messages a connection carries before QUIT and a
	// new connection (EHLO and AUTH again); 0: one connection per session
	// for the whole run.
	PerConn int
}

// LoadResult is what a run measured.
type LoadResult struct {
	Accepted int
	Failed   int
	FirstErr error
	// Start is when the first session began its first transaction;
	// LastAccept when the last 250 to the end of data came.
	Start, LastAccept time.Time
	// Latencies are per accepted message, from sending MAIL FROM to the
	// 250 reply to the end of data: the whole transaction as the client
	// waits for it, the durable store included.
	Latencies []time.Duration
}

// Replies the generator acts on (RFC 5321 §4.2.3, RFC 4954 §6).
const (
	codeReady      = 220
	codeOK         = 250
	codeAuthOK     = 235
	codeStartData  = 354
	sessionTimeout = 2 * time.Minute
	maxRetries     = 5 // per message, for 4xx replies
)

// errTemporary is a 4xx reply: the message is tried again.
var errTemporary = errors.New("temporary failure")

// Run drives the server until every message was accepted or failed, or
// ctx ends.
func (c LoadConfig) Run(ctx context.Context) LoadResult {
	filler := makeFiller(c.Size)
	var next atomic.Int64
	var mu sync.Mutex
	res := LoadResult{Latencies: make([]time.Duration, 0, c.N)}
	var startOnce sync.Once
	markStart := func() { startOnce.Do(func() { res.Start = time.Now() }) }
	var wg sync.WaitGroup
	for s := range c.Sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			var last time.Time
			failed := 0
			var firstErr error
			i := int(next.Add(1) - 1)
			for i < c.N && ctx.Err() == nil {
				cl, err := c.dial(ctx, s)
				if err != nil {
					failed++
					firstErr = cmp(firstErr, err)
					i = int(next.Add(1) - 1)
					continue
				}
				onConn := 0 // messages this connection carried
				for i < c.N && ctx.Err() == nil && (c.PerConn == 0 || onConn < c.PerConn) {
					markStart()
					d, err := c.sendOne(cl, i, filler)
					if errors.Is(err, errTemporary) {
						if tries := cl.retries[i] + 1; tries < maxRetries {
							cl.retries[i] = tries
							time.Sleep(50 * time.Millisecond)
							continue
						}
					}
					if err != nil {
						failed++
						firstErr = cmp(firstErr, err)
						i = int(next.Add(1) - 1)
						if !errors.Is(err, errTemporary) {
							break // the connection is in doubt: a new one
						}
						continue
					}
					lat = append(lat, d)
					last = time.Now()
					onConn++
					i = int(next.Add(1) - 1)
				}
				cl.close()
			}
			mu.Lock()
			res.Latencies = append(res.Latencies, lat...)
			res.Accepted += len(lat)
			res.Failed += failed
			res.FirstErr = cmp(res.FirstErr, firstErr)
			if last.After(res.LastAccept) {
				res.LastAccept = last
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return res
}

func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// Recipient is message i's recipient.
func (c LoadConfig) Recipient(i int) string {
	return "u" + strconv.Itoa(i) + "@" + c.Domains[i%len(c.Domains)]
}

// loadClient is one submission session.
type loadClient struct {
	conn    net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	retries map[int]int
}

func newReaderWriter(c net.Conn) (*bufio.Reader, *bufio.Writer) {
	return bufio.NewReaderSize(c, 4096), bufio.NewWriterSize(c, 64<<10)
}

// quitWait bounds the wait for the reply to QUIT.
const quitWait = 5 * time.Second

// close says QUIT and waits for its reply, as go-smtp's client does,
// then closes the connection.
func (cl *loadClient) close() {
	cl.w.WriteString("QUIT\r\n")
	if cl.w.Flush() == nil {
		cl.conn.SetDeadline(time.Now().Add(quitWait))
		cl.reply()
	}
	cl.conn.Close()
}

// dial connects, says EHLO and authenticates.
func (c LoadConfig) dial(ctx context.Context, session int) (*loadClient, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(sessionTimeout))
	cl := &loadClient{conn: conn, retries: map[int]int{}}
	cl.r, cl.w = newReaderWriter(conn)
	fail := func(err error) (*loadClient, error) {
		conn.Close()
		return nil, err
	}
	if code, text, err := cl.reply(); err != nil || code != codeReady {
		return fail(fmt.Errorf("greeting: %d %s %v", code, text, err))
	}
	code, text, err := cl.cmd("EHLO client%d.bench.test", session)
	if err != nil || code != codeOK {
		return fail(fmt.Errorf("EHLO: %d %s %v", code, text, err))
	}
	if !c.Plain && !strings.Contains(strings.ToUpper(text), "PIPELINING") {
		return fail(errors.New("server does not offer PIPELINING"))
	}
	if c.User != "" {
		// RFC 4616: authzid NUL authcid NUL passwd.
		cred := base64.StdEncoding.EncodeToString([]byte("\x00" + c.User + "\x00" + c.Password))
		code, text, err := cl.cmd("AUTH PLAIN %s", cred)
		if err != nil || code != codeAuthOK {
			return fail(fmt.Errorf("AUTH: %d %s %v", code, text, err))
		}
	}
	return cl, nil
}

// sendOne sends message i, pipelined (RFC 2920) or step by step as
// c.Plain says, and returns the transaction's time: from MAIL FROM to the
// reply to the end of data.
func (c LoadConfig) sendOne(cl *loadClient, i int, filler []byte) (time.Duration, error) {
	cl.conn.SetDeadline(time.Now().Add(sessionTimeout))
	head := c.header(i)
	size := len(head) + len(filler)
	t0 := time.Now()
	var err error
	if c.Plain {
		err = c.envelopeStepwise(cl, i, size)
	} else {
		err = c.envelopePipelined(cl, i, size)
	}
	if err != nil {
		return 0, err
	}
	cl.w.WriteString(head)
	cl.w.Write(filler)
	cl.w.WriteString(".\r\n")
	if err := cl.w.Flush(); err != nil {
		return 0, err
	}
	code, text, err := cl.reply()
	if err != nil {
		return 0, err
	}
	d := time.Since(t0)
	switch code / 100 {
	case 2:
		return d, nil
	case 4:
		return 0, fmt.Errorf("%w: end of data: %d %s", errTemporary, code, text)
	}
	return 0, fmt.Errorf("end of data: %d %s", code, text)
}

// envelopePipelined sends MAIL, RCPT and DATA in one write and reads
// their three replies; nil when DATA's is 354.
func (c LoadConfig) envelopePipelined(cl *loadClient, i, size int) error {
	fmt.Fprintf(cl.w, "MAIL FROM:<%s> SIZE=%d\r\nRCPT TO:<%s>\r\nDATA\r\n", c.From, size, c.Recipient(i))
	if err := cl.w.Flush(); err != nil {
		return err
	}
	var codes [3]int
	var texts [3]string
	for k := range codes {
		var err error
		if codes[k], texts[k], err = cl.reply(); err != nil {
			return err
		}
	}
	if codes[2] == codeStartData {
		return nil
	}
	if codes[0] == codeOK {
		cl.rset() // MAIL was accepted: the transaction is still open
	}
	for k, code := range codes {
		if code/100 == 4 || code/100 == 5 {
			return refusal(code, texts[k])
		}
	}
	return fmt.Errorf("DATA: %d %s", codes[2], texts[2])
}

// envelopeStepwise sends MAIL, RCPT and DATA one at a time, each after
// the reply to the one before; nil when DATA's is 354.
func (c LoadConfig) envelopeStepwise(cl *loadClient, i, size int) error {
	steps := []struct {
		cmd  string
		want int
	}{
		{fmt.Sprintf("MAIL FROM:<%s> SIZE=%d", c.From, size), codeOK},
		{"RCPT TO:<" + c.Recipient(i) + ">", codeOK},
		{"DATA", codeStartData},
	}
	for k, st := range steps {
		code, text, err := cl.cmd("%s", st.cmd)
		if err != nil {
			return err
		}
		if code == st.want {
			continue
		}
		if k > 0 {
			cl.rset()
		}
		if code/100 == 4 || code/100 == 5 {
			return refusal(code, text)
		}
		return fmt.Errorf("%s: %d %s", strings.Fields(st.cmd)[0], code, text)
	}
	return nil
}

// refusal is the error for a 4xx (errTemporary: tried again) or 5xx reply.
func refusal(code int, text string) error {
	if code/100 == 4 {
		return fmt.Errorf("%w: %d %s", errTemporary, code, text)
	}
	return fmt.Errorf("refused: %d %s", code, text)
}

// rset ends an open transaction after a refusal, so that the next MAIL
// is not a nested one (RFC 5321 §4.1.1.5); its reply is read and not
// judged: a broken connection shows at the next command.
func (cl *loadClient) rset() {
	cl.cmd("RSET")
}

func (cl *loadClient) cmd(format string, args ...any) (int, string, error) {
	fmt.Fprintf(cl.w, format+"\r\n", args...)
	if err := cl.w.Flush(); err != nil {
		return 0, "", err
	}
	return cl.reply()
}

// reply reads one reply, all its lines, the text joined by newlines.
func (cl *loadClient) reply() (int, string, error) {
	var lines []string
	for {
		line, err := cl.r.ReadString('\n')
		if err != nil {
			return 0, "", err
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return 0, "", fmt.Errorf("malformed reply %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			return 0, "", fmt.Errorf("malformed reply %q", line)
		}
		if len(line) > 4 {
			lines = append(lines, line[4:])
		}
		if len(line) == 3 || line[3] != '-' {
			return code, strings.Join(lines, "\n"), nil
		}
	}
}

// header is message i's header and the blank line after it.
func (c LoadConfig) header(i int) string {
	return "From: Bench <" + c.From + ">\r\n" +
		"To: <" + c.Recipient(i) + ">\r\n" +
		"Subject: bench message " + strconv.Itoa(i) + "\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <" + c.RunID + "." + strconv.Itoa(i) + "@bench.test>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n" +
		"\r\n"
}

// headerSize is about the size of header(i), subtracted from the filler so
// that messages come out near the size asked for.
const headerSize = 300

// makeFiller is a body of about size-headerSize bytes: 76-character lines
// of text, CRLF-terminated, none starting with a dot (so no stuffing).
func makeFiller(size int) []byte {
	n := max(size-headerSize, 80)
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
	out := make([]byte, 0, n+80)
	x := uint32(2463534242)
	for len(out) < n {
		for range 76 {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			out = append(out, alphabet[x%uint32(len(alphabet))])
		}
		out = append(out, '\r', '\n')
	}
	return out
}

// percentile is the p-th percentile (0..100) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	k := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(k, 0), len(s)-1)]
}
