package deliver

import (
	"context"
	"crypto/tls"
	"strings"
	"sync"
	"syscall"
	"time"
)

// idleTTL is how long a connection waits, idle, for the next group to the
// same MX host from the same source IP. Postfix's connection cache keeps
// them 2 s (smtp_connection_cache_time_limit); servers allow minutes
// (RFC 5321 §4.5.3.2.7), so this is well inside what they tolerate.
const idleTTL = 2 * time.Second

// maxIdlePerKey bounds the idle connections kept per MX host and source IP.
const maxIdlePerKey = 8

// idleKey is what a kept connection can be reused for: the same MX host,
// from the same source IP (the pool picks the IP first, so reuse never
// changes which IP a message goes from), under the same TLS policy (a
// connection made for opportunistic TLS must not carry mail a policy
// protects).
type idleKey struct{ mx, src, policy string }

// idlePool keeps sessions between groups, so that a busy destination does
// not pay for connect, greeting, EHLO and STARTTLS for every group. Idle
// sessions keep their per-destination slots: they count as connections to
// the receiver, which they are.
type idlePool struct {
	mu    sync.Mutex
	conns map[idleKey][]*idleConn
}

type idleConn struct {
	s     *session
	timer *time.Timer
}

func newIdlePool() *idlePool { return &idlePool{conns: map[idleKey][]*idleConn{}} }

func keyOf(mx, src, policy string) idleKey { return idleKey{strings.ToLower(mx), src, policy} }

// take returns a live idle session for mx from src under policy, bound
// to ctx, or nil.
func (p *idlePool) take(ctx context.Context, mx, src, policy string) *session {
	k := keyOf(mx, src, policy)
	for {
		p.mu.Lock()
		list := p.conns[k]
		if len(list) == 0 {
			p.mu.Unlock()
			return nil
		}
		ic := list[len(list)-1] // the most recent: least likely timed out
		p.remove(k, ic)
		p.mu.Unlock()
		ic.timer.Stop()
		if alive(ic.s) {
			ic.s.bind(ctx)
			return ic.s
		}
		ic.s.close()
	}
}

// put keeps s for reuse; false when there is no room (the caller ends it).
// The caller has detached s from its group's context.
func (p *idlePool) put(s *session) bool {
	k := keyOf(s.mx, s.src.String(), s.tlsInfo.Policy)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.conns[k]) >= maxIdlePerKey {
		return false
	}
	ic := &idleConn{s: s}
	ic.timer = time.AfterFunc(idleTTL, func() {
		p.mu.Lock()
		kept := p.remove(k, ic)
		p.mu.Unlock()
		if kept {
			ic.s.end()
		}
	})
	p.conns[k] = append(p.conns[k], ic)
	return true
}

// evictOne ends one idle session for which match is true; false if none.
func (p *idlePool) evictOne(match func(k idleKey, s *session) bool) bool {
	p.mu.Lock()
	var victim *idleConn
	for k, list := range p.conns {
		for _, ic := range list {
			if match(k, ic.s) {
				victim = ic
				p.remove(k, ic)
				break
			}
		}
		if victim != nil {
			break
		}
	}
	p.mu.Unlock()
	if victim == nil {
		return false
	}
	victim.timer.Stop()
	victim.s.end()
	return true
}

// remove takes ic out of k's list; false if it was not there.
func (p *idlePool) remove(k idleKey, ic *idleConn) bool {
	list := p.conns[k]
	for i, x := range list {
		if x == ic {
			list = append(list[:i], list[i+1:]...)
			if len(list) == 0 {
				delete(p.conns, k)
			} else {
				p.conns[k] = list
			}
			return true
		}
	}
	return false
}

// alive reports whether an idle connection is still open: the receiver has
// neither closed it nor said anything (an unsolicited reply is a 421 on its
// way out). It does not wait (peekConn).
func alive(s *session) bool {
	if s.r.Buffered() > 0 {
		return false
	}
	conn := s.conn
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return true // cannot tell: a broken one fails its first command
	}
	return peekConn(sc)
}

// bind makes a kept session answer to ctx, the group now using it: its
// deadlines and cancellation follow ctx.
func (s *session) bind(ctx context.Context) {
	s.client.ctx = ctx
	conn := s.conn
	s.stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	s.used = true // each transaction now starts its own clock
}

// end says QUIT to a session no group is using, and closes it.
func (s *session) end() {
	s.bind(context.Background())
	s.quit(5 * time.Second)
	s.close()
}

// finish ends a group's use of s, which carried sent more messages: it is
// kept for the next group when it is in a clean state, has room for more
// messages and no group waits for the slots it holds; else closed.
func (c *Courier) finish(s *session, sent int, reusable bool) {
	s.sent += sent
	if reusable && s.sent < c.cfg.MessagesPerConnection && s.ctx.Err() == nil &&
		!c.limits.contended(s.mx, s.src.String(), s.dest) && s.stop() {
		if c.idle.put(s) {
			return
		}
		s.end()
		return
	}
	s.quit(c.cfg.CommandTimeout)
	s.close()
}

// reuse returns an idle session for mx from src under policy, or makes
// room for a new connection by ending idle ones that hold the slots it
// needs: an idle connection must never keep a group waiting.
func (c *Courier) reuse(ctx context.Context, mx, src, policy, dest string, ipMax int) *session {
	if s := c.idle.take(ctx, mx, src, policy); s != nil {
		return s
	}
	lmx, ipKey := strings.ToLower(mx), src+" "+dest
	for c.limits.perMX.inUse(lmx) >= c.cfg.MaxConnsPerMX &&
		c.idle.evictOne(func(k idleKey, _ *session) bool { return k.mx == lmx }) {
	}
	for c.limits.perIPProvider.inUse(ipKey) >= ipMax &&
		c.idle.evictOne(func(k idleKey, s *session) bool { return k.src == src && s.dest == dest }) {
	}
	return nil
}
