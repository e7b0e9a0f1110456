package inbound

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"sendpool/internal/connlimit"
	"sendpool/internal/smtpserve"
	"sendpool/internal/state"
)

// client is what the gate learnt of a connection before the banner, kept
// with it for its sessions.
type client struct {
	allowed bool   // in inbound.allow: no score, pause nor greylisting
	score   *score // score.go; nil for an allowed client
}

// Keys of the shared state.
const (
	passKey = "inbound:pass:" // + IP: waited for the banner (PassFor)
	rateKey = "inbound:rate:" // + connlimit.Key: connections per minute
)

// greet runs before the banner, in the connection's goroutine (the
// cheapest checks first, RFC 5321 §3.1 allowing a 554 or 421 instead of
// the greeting): firewall rules, bans, the rate cap, then the greet pause
// while the DNSBL lookups run, then the DNSBL score. It returns false once
// it has answered and the connection is to be closed.
func (s *Server) greet(c *smtpserve.Conn) bool {
	ip := c.Client()
	d := Decision{ClientIP: ipString(ip), Action: ActionDropped}
	refuse := func(check, reply, detail string) bool {
		if reply != "" {
			c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			fmt.Fprintf(c.Conn, "%s\r\n", reply)
			fmt.Sscanf(reply, "%d", &d.Code)
		}
		d.Check, d.Detail = check, detail
		s.decide(d)
		return false
	}
	if inAny(ip, s.cfg.Allow) {
		c.Attach(&client{allowed: true})
		return true
	}
	if inAny(ip, s.cfg.Deny) {
		return refuse(CheckFirewall, "554 5.7.1 "+s.cfg.Hostname+" Access denied", "client in inbound.deny")
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if b, err := s.Bans().Get(ctx, ip); err != nil {
		s.log.Warn("inbound: ban lookup failed", "client_ip", d.ClientIP, "err", err)
	} else if b != nil {
		return refuse(CheckBan, fmt.Sprintf("421 4.7.0 %s Service unavailable; client [%s] banned, try again later", s.cfg.Hostname, ip),
			"banned until "+b.Until.Format(time.RFC3339)+": "+b.Reason)
	}
	if s.cfg.ConnectionsPerMinute > 0 {
		dec, err := s.cfg.State.Take(ctx, rateKey+connlimit.Key(ip).String(), 1, s.cfg.Now(),
			[]state.Window{{Size: time.Minute, Max: s.cfg.ConnectionsPerMinute}})
		if err == nil && !dec.Allowed {
			return refuse(CheckRate, "421 4.7.0 "+s.cfg.Hostname+" Too many connections, try again later",
				fmt.Sprintf("%d connections in a minute", dec.Count))
		}
	}

	// The lookups run during the pause (postscreen's DNSBL tests run
	// while its greet test waits).
	scored := make(chan *score, 1)
	go func() {
		sctx, scancel := context.WithTimeout(s.srv.Context(), s.cfg.DNSBLTimeout)
		defer scancel()
		scored <- s.lookupScore(sctx, ip)
	}()
	if talked, err := s.pause(ctx, c); talked {
		s.ban(ctx, ip, CheckPregreet, "talked before the banner")
		return refuse(CheckPregreet, "", "talked before the banner")
	} else if err != nil {
		<-scored
		d.Action = ActionDropped
		return refuse(CheckPregreet, "", "left before the banner: "+err.Error())
	}
	sc := <-scored
	if sc.listed >= s.cfg.Threshold {
		d.Score = sc.total
		return refuse(CheckDNSBL, fmt.Sprintf("554 5.7.1 Service unavailable; client [%s] blocked using %s", ip, sc.zones[0]),
			fmt.Sprintf("score %.2f: %v", sc.total, sc.zones))
	}
	c.Attach(&client{score: sc})
	return true
}

// pause holds the banner for GreetPause and reads: a client that sends
// anything before it does not wait for the greeting (RFC 5321 §4.3.1), as
// spam engines that talk blind do. A client that waited is remembered for
// PassFor and not paused again. talked: it sent something; err: it left
// (or the read failed) before the banner.
func (s *Server) pause(ctx context.Context, c *smtpserve.Conn) (talked bool, err error) {
	if s.cfg.GreetPause <= 0 {
		return false, nil
	}
	ip := c.Client().String()
	if _, ok, err := s.cfg.State.Get(ctx, passKey+ip); err == nil && ok {
		return false, nil
	}
	c.Conn.SetReadDeadline(time.Now().Add(s.cfg.GreetPause))
	var b [1]byte
	n, rerr := c.Conn.Read(b[:])
	c.Conn.SetReadDeadline(time.Time{})
	switch {
	case n > 0:
		return true, nil
	case errors.Is(rerr, os.ErrDeadlineExceeded):
		if s.cfg.PassFor > 0 {
			s.cfg.State.Set(ctx, passKey+ip, []byte{1}, s.cfg.PassFor)
		}
		return false, nil
	case rerr == nil:
		return false, nil
	}
	return false, rerr
}

// onCap bans a client whose session a bound ended (too many protocol
// errors).
func (s *Server) onCap(c *smtpserve.Conn, key string) {
	ctx, cancel := s.ctx()
	defer cancel()
	s.ban(ctx, c.Client(), CheckErrors, "session ended by "+key)
	s.decide(Decision{ClientIP: ipString(c.Client()), Action: ActionDropped, Check: CheckErrors, Code: 421, Detail: key})
}

// ban bans ip for BanFor, for every node.
func (s *Server) ban(ctx context.Context, ip interface{ String() string }, check, why string) {
	if err := s.Bans().Ban(ctx, ip.String(), check+": "+why, s.cfg.BanFor); err != nil {
		s.log.Warn("inbound: ban failed", "client_ip", ip.String(), "err", err)
		return
	}
	s.log.Info("inbound: client banned", "client_ip", ip.String(), "check", check, "detail", why, "for", s.cfg.BanFor)
}

// Bans is the book of bans over the server's state.
func (s *Server) Bans() *Bans { return &Bans{State: s.cfg.State, Now: s.cfg.Now} }

// inAny reports whether ip is inside one of ps.
func inAny(ip netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
