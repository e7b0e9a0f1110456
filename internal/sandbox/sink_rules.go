package sandbox

import (
	"strings"
	"time"
)

// What a sink is told to reply: rules, matched in order, and a handler
// asked before them.

// Rule scripts a reply. The first rule that matches wins.
type Rule struct {
	SourceIP string // "" matches any
	Stage    string // one of the Stage constants; "" matches any
	// Rcpt matches a recipient at the rcpt, data and eod stages ("" any);
	// at data and eod a rule matches when any recipient of the transaction
	// does.
	Rcpt string
	// Attempt, when not 0, applies the rule only to the Nth time (1-based)
	// this stage is reached: counted per source IP for greeting, ehlo and
	// mail, per recipient for rcpt, data and eod.
	Attempt int
	// Times, when not 0, is how many times the rule applies before it
	// expires.
	Times int
	// Reply is the full reply, e.g. "451 4.7.1 Try again later"; lines
	// separated by \n make a multi-line reply. Empty: the usual reply.
	Reply string
	// Drop closes the connection at this point (after Reply, if any). At
	// the data stage the sink first answers 354 and reads part of the data;
	// at eod it reads all the data and closes without a reply.
	Drop bool
	// Delay waits before replying, as a slow receiver does.
	Delay time.Duration
	// Tarpit writes the reply one byte at a time, Tarpit apart, as a
	// tarpitting receiver does to slow a sender down.
	Tarpit time.Duration
	// Hang never replies: the sink holds the connection, reading and
	// discarding, until the client closes it (or the sink closes). At eod
	// the message is not kept: the receiver never took it.
	Hang bool
	// Reset, with Drop, closes the connection with a TCP reset (RST)
	// rather than an orderly close.
	Reset bool
	// Endless sends the reply as a multi-line reply that never ends
	// ("250-" lines, one a millisecond) until the client closes the
	// connection; the session ends there.
	Endless bool
	// Keep, with Drop at eod and no Reply, keeps the message though the
	// connection closes before the reply: the receiver took it, and the
	// sender, not knowing, will send it again.
	Keep bool
}

// Event is what a handler is asked about.
type Event struct {
	Stage    string
	SourceIP string
	EHLO     string
	TLS      bool
	From     string
	Rcpt     string   // the recipient, at the rcpt stage
	To       []string // recipients accepted so far
	// Attempt is the count that Rule.Attempt compares with; at data and
	// eod, the highest among the transaction's recipients.
	Attempt int
}

// Reply is a handler's scripted answer; the fields mean what Rule's do.
type Reply struct {
	Text    string
	Drop    bool
	Delay   time.Duration
	Tarpit  time.Duration
	Hang    bool
	Reset   bool
	Endless bool
	Keep    bool
}

// decide counts that ev.Stage was reached and returns the scripted reply
// for it, nil for the usual one. rcpts are the recipients the stage is
// about (rcpt: the one; data, eod: the accepted ones).
func (s *Sink) decide(ev Event, rcpts []string) *Reply {
	s.mu.Lock()
	perRcpt := ev.Stage == StageRcpt || ev.Stage == StageData || ev.Stage == StageEOD
	attempt := map[string]int{}
	if s.cfg.Discard {
		// No counts: they would grow with every recipient of a load run.
	} else if perRcpt {
		for _, r := range rcpts {
			k := sinkCountKey{ev.Stage, strings.ToLower(r)}
			s.counts[k]++
			attempt[r] = s.counts[k]
			ev.Attempt = max(ev.Attempt, s.counts[k])
		}
	} else {
		k := sinkCountKey{ev.Stage, ev.SourceIP}
		s.counts[k]++
		ev.Attempt = s.counts[k]
	}
	h := s.handler
	s.mu.Unlock()

	// The handler runs unlocked so that it may call the sink's methods.
	if h != nil {
		if r := h(ev); r != nil {
			return r
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.rules {
		r := &s.rules[i]
		if r.Times > 0 && r.used >= r.Times {
			continue
		}
		if r.SourceIP != "" && r.SourceIP != ev.SourceIP {
			continue
		}
		if r.Stage != "" && r.Stage != ev.Stage {
			continue
		}
		if !r.matchWho(perRcpt, ev.Attempt, rcpts, attempt) {
			continue
		}
		r.used++
		return &Reply{Text: r.Reply, Drop: r.Drop, Delay: r.Delay,
			Tarpit: r.Tarpit, Hang: r.Hang, Reset: r.Reset, Endless: r.Endless, Keep: r.Keep}
	}
	return nil
}

func (r *sinkRule) matchWho(perRcpt bool, ipAttempt int, rcpts []string, attempt map[string]int) bool {
	if !perRcpt {
		return r.Rcpt == "" && (r.Attempt == 0 || r.Attempt == ipAttempt)
	}
	for _, rc := range rcpts {
		if (r.Rcpt == "" || strings.EqualFold(r.Rcpt, rc)) && (r.Attempt == 0 || r.Attempt == attempt[rc]) {
			return true
		}
	}
	return false
}
