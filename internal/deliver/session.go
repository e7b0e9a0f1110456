package deliver

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"sendpool/internal/pool"
	"sendpool/internal/queue"
	"sendpool/internal/tlspolicy"
)

// session is an SMTP connection that has passed the greeting and EHLO and
// is ready for transactions.
type session struct {
	*client
	mx   string
	addr string // "ip:port" connected to
	src  pool.IP
	ext  map[string]string
	// tlsInfo is how the connection is protected, as attempts record it.
	tlsInfo queue.TLS
	note    string // what went wrong on the way, e.g. TLS that failed
	start   time.Time
	used    bool // a transaction has run: the next one starts its own clock
	stop    func() bool
	// dest is the MX host's provider, the destination src was picked for.
	dest string
	// release frees the connection's per-destination slots.
	release func()
	sent    int // messages carried, over every group that used it
}

// connect opens a session to the first MX host that gives one (RFC 5321
// §5.1), asking the pool for the source IP for each host's provider (a
// provider-scoped suspension or pace keeps an IP from that provider's
// hosts only) and counting the first message, of rcpts recipients, there.
// nextIP, when it may send, is the source to keep (greylisting); otherwise
// the pool prefers an IP not in tried. Each connection holds a slot per MX
// host and per source IP × provider while it lives. plan says what TLS
// each host needs; a host it refuses is not tried.
func (c *Courier) connect(ctx context.Context, hosts []mxHost, plan *tlspolicy.Plan, tried []string, nextIP string,
	rcpts int) (*session, *outcome) {
	var last *outcome
	var returns time.Time // earliest return of an IP, while no host had one
	noSource := 0
	for _, h := range hosts {
		if ctx.Err() != nil {
			break
		}
		req := tlsReq{Host: plan.Host(h.mx), domain: plan.Domain}
		if req.Refused != "" {
			last = c.refused(h, req)
			continue
		}
		dest := c.cfg.Provider(h.mx)
		ch := c.cfg.Pool.Choose(ctx, pool.Request{Destination: dest, Tried: tried, Prefer: nextIP, Rcpts: rcpts})
		if !ch.OK {
			noSource++
			if noSource == 1 || ch.Until.Before(returns) {
				returns = ch.Until
			}
			if last == nil {
				last = &outcome{stage: StageConnect, reply: "no usable source IP for " + dest, mx: h.mx, start: c.cfg.Now(), dest: dest,
					class: queue.Classification{Verdict: queue.VerdictDeferred, Category: "pool", Rule: "no-source-ip"}}
			}
			continue
		}
		src := ch.IP
		ts, err := forSource(h.targets, src.Addr)
		if err != nil {
			last = &outcome{stage: StageConnect, reply: err.Error(), mx: h.mx, src: src.String(), start: c.cfg.Now(), dest: dest,
				class: queue.Classification{Verdict: queue.VerdictDeferred, Category: "network", Rule: "no-route"}}
			continue
		}
		ipMax := c.cfg.MaxConnsPerIPProvider
		if ch.Conns > 0 {
			ipMax = min(ipMax, ch.Conns)
		}
		if s := c.reuse(ctx, h.mx, src.String(), req.Policy, dest, ipMax); s != nil {
			return s, nil
		}
		release, err := c.limits.acquire(ctx, strings.ToLower(h.mx), src.String(), dest, ipMax)
		if err != nil {
			break // ctx ended while waiting for a slot
		}
		s, f := c.open(ctx, ts, src, req)
		if f == nil {
			s.dest, s.release = dest, release
			return s, nil
		}
		release()
		f.src, f.dest = src.String(), dest
		last = f
		if f.class.Verdict != queue.VerdictDeferred {
			return nil, f
		}
	}
	if noSource == len(hosts) && last != nil {
		// Every IP is out for these hosts: the mail waits, at most until
		// the first one returns (zero: the schedule decides).
		last.retryAt = returns
	}
	if last == nil {
		// ctx ended before any host was tried: no attempt was made.
		last = &outcome{stage: StageConnect, reply: "not attempted: " + errText(context.Cause(ctx)),
			class: queue.Classification{Verdict: queue.VerdictDeferred, Category: "timeout", Rule: "not-attempted"}}
	}
	return nil, last
}

// open connects from src to the first target that gives a session,
// trying the next address and the next MX host when one cannot be
// reached or is unwilling for now (RFC 5321 §5.1). A permanent or
// blocked-IP answer ends the search: the next MX would say the same.
func (c *Courier) open(ctx context.Context, targets []target, src pool.IP, req tlsReq) (*session, *outcome) {
	var last *outcome
	for _, t := range targets {
		if ctx.Err() != nil {
			break
		}
		s, f := c.handshake(ctx, t, src, req, false)
		if f != nil && f.stage == StageStartTLS && req.Retry {
			// Opportunistic TLS that fails must not stop mail: try the host
			// once more in plaintext, as MTAs do, and say so. Never under
			// a policy that requires TLS (RFC 8461 §5, RFC 7672 §2.2).
			note := "TLS failed (" + f.reply + "), sent in plaintext"
			c.log.Warn("starttls failed, retrying in plaintext", "mx", t.mx, "mx_addr", f.addr, "source_ip", src.String(), "err", f.reply)
			s, f = c.handshake(ctx, t, src, req, true)
			if s != nil {
				s.note = note
			}
		}
		if f == nil {
			return s, nil
		}
		last = f
		if f.class.Verdict != queue.VerdictDeferred {
			return nil, f
		}
	}
	if last == nil {
		last = &outcome{stage: StageConnect, reply: errText(context.Cause(ctx)), start: c.cfg.Now()}
		last.class = c.classify(StageConnect, "", last.reply)
	}
	return nil, last
}

// handshake dials t from src, reads the greeting, says EHLO (HELO if EHLO
// is refused) and starts TLS as req asks: when offered, unless plaintext;
// a host that cannot give the TLS req requires is left.
func (c *Courier) handshake(ctx context.Context, t target, src pool.IP, req tlsReq, plaintext bool) (*session, *outcome) {
	start := c.cfg.Now()
	port := c.cfg.Port
	if t.port != 0 {
		port = t.port // a fixed route's (route.go)
	}
	addr := net.JoinHostPort(t.addr.String(), strconv.Itoa(port))
	fail := func(stage, text string) *outcome {
		o := &outcome{stage: stage, reply: text, mx: t.mx, addr: addr, class: c.classify(stage, t.mx, text), start: start}
		if stage == StageStartTLS {
			o.tls.Policy = req.Policy // a session that got as far as TLS
		}
		return o
	}
	d := net.Dialer{Timeout: c.cfg.ConnectTimeout}
	if src.Addr.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.Addr.AsSlice()}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fail(StageConnect, err.Error())
	}
	s := &session{client: newClient(ctx, conn), mx: t.mx, addr: addr, src: src, start: start,
		tlsInfo: queue.TLS{Policy: req.Policy}}
	// Cancellation interrupts whatever the connection is waiting for.
	s.stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	bad := func(stage, text string) (*session, *outcome) {
		s.close()
		return nil, fail(stage, text)
	}

	s.setDeadline(c.cfg.CommandTimeout)
	r, err := s.readReply()
	if err != nil {
		return bad(StageGreeting, err.Error())
	}
	if r.code != codeReady {
		// RFC 5321 §3.1: a server that refuses at the greeting waits for QUIT.
		s.quit(c.cfg.CommandTimeout)
		return bad(StageGreeting, r.String())
	}
	if f := c.hello(s, fail); f != nil {
		s.quit(c.cfg.CommandTimeout)
		s.close()
		return nil, f
	}
	if req.NoTLS || plaintext {
		return s, nil
	}
	if _, ok := s.ext["STARTTLS"]; !ok {
		if f := c.noTLS(s, t, req, "does not offer STARTTLS"); f != nil {
			return nil, f
		}
		return s, nil
	}
	r, err = s.cmd(c.cfg.CommandTimeout, "STARTTLS")
	if err != nil {
		return bad(StageStartTLS, err.Error())
	}
	if r.code != codeReady {
		if f := c.noTLS(s, t, req, "refused STARTTLS ("+r.String()+")"); f != nil {
			return nil, f
		}
		// RFC 3207 §4 lets the session go on in plaintext.
		s.note = "STARTTLS refused (" + r.String() + ")"
		return s, nil
	}
	if f := c.startTLS(ctx, s, conn, t, req, fail); f != nil {
		s.close()
		return nil, f
	}
	// RFC 3207 §4.2: what the server said before TLS no longer holds.
	if f := c.hello(s, fail); f != nil {
		s.close()
		return nil, f
	}
	return s, nil
}

// hello says EHLO with the source IP's name, falling back to HELO when the
// server refuses EHLO for good (RFC 5321 §3.2).
func (c *Courier) hello(s *session, fail func(stage, text string) *outcome) *outcome {
	name := ehloName(s.src)
	r, err := s.cmd(c.cfg.CommandTimeout, "EHLO %s", name)
	if err != nil {
		return fail(StageEHLO, err.Error())
	}
	if r.class() == 5 {
		r, err = s.cmd(c.cfg.CommandTimeout, "HELO %s", name)
		if err != nil {
			return fail(StageEHLO, err.Error())
		}
		if r.class() != 2 {
			return fail(StageEHLO, r.String())
		}
		s.ext = map[string]string{}
		return nil
	}
	if r.class() != 2 {
		return fail(StageEHLO, r.String())
	}
	s.ext = extensions(r)
	return nil
}

// ehloName is the IP's EHLO name, or its address literal (RFC 5321
// §4.1.3) when it has none.
func ehloName(src pool.IP) string {
	switch {
	case src.EHLO != "":
		return src.EHLO
	case src.Addr.Is4():
		return "[" + src.Addr.String() + "]"
	case src.Addr.IsValid():
		return "[IPv6:" + src.Addr.String() + "]"
	}
	return "localhost"
}

// quit ends the session politely; its reply does not matter.
func (s *session) quit(timeout time.Duration) {
	if s.ctx.Err() != nil {
		return
	}
	s.cmd(min(timeout, 10*time.Second), "QUIT")
}

func (s *session) close() {
	s.stop()
	s.conn.Close()
	if s.release != nil {
		s.release()
	}
}
