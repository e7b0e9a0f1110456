// Package events keeps the recent intake decisions (accepted and refused
// messages, with the scan rules that fired) and account events (held
// automatically, released), for the API (GET /api/v1/events) and the
// control panel. It is a bounded ring in memory, per node: the log
// (log/slog) is the permanent record.
package events

import (
	"context"
	"fmt"
	"sync"
	"time"

	"sendpool/internal/intake"
)

// Kinds of events.
const (
	KindAccepted = "accepted"  // a message was queued
	KindRefused  = "refused"   // a message was refused by a check
	KindHeld     = "held"      // an account was held automatically
	KindReleased = "released"  // an admin released an account
	KindHoldMail = "hold-mail" // an account's queued mail was held
)

// Event is one entry.
type Event struct {
	Time     time.Time        `json:"time"`
	Kind     string           `json:"kind"`
	Account  string           `json:"account,omitempty"`
	ID       string           `json:"id,omitempty"` // the message, when accepted
	From     string           `json:"from,omitempty"`
	Rcpts    int              `json:"rcpts,omitempty"`
	Protocol string           `json:"protocol,omitempty"`
	ClientIP string           `json:"client_ip,omitempty"`
	Reply    string           `json:"reply,omitempty"` // the refusal, e.g. "550 5.7.1 Message refused as spam"
	Check    string           `json:"check,omitempty"` // which check refused
	Reason   string           `json:"reason,omitempty"`
	Score    float64          `json:"score,omitempty"`
	Rules    []intake.Finding `json:"rules,omitempty"`
}

// Filter selects events; zero fields match any.
type Filter struct {
	Account string
	Kind    string
	ID      string
	Limit   int // 0: 100
}

// Log is a ring of the last events. Safe for concurrent use.
type Log struct {
	mu   sync.Mutex
	ring []Event
	next int
	full bool
}

// New returns a Log that keeps the last size events (0: 10000).
func New(size int) *Log {
	if size <= 0 {
		size = 10000
	}
	return &Log{ring: make([]Event, size)}
}

// Add records e.
func (l *Log) Add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.next] = e
	l.next = (l.next + 1) % len(l.ring)
	if l.next == 0 {
		l.full = true
	}
}

// List returns the events f selects, newest first.
func (l *Log) List(f Filter) []Event {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.next
	if l.full {
		n = len(l.ring)
	}
	out := []Event{}
	for i := 1; i <= n && len(out) < f.Limit; i++ {
		e := l.ring[(l.next-i+len(l.ring))%len(l.ring)]
		if (f.Account == "" || e.Account == f.Account) && (f.Kind == "" || e.Kind == f.Kind) && (f.ID == "" || e.ID == f.ID) {
			out = append(out, e)
		}
	}
	return out
}

// Observe is an intake observer (intake.Config.Observers): it records each
// decision with its rules and score.
func (l *Log) Observe(_ context.Context, d intake.Decision) {
	e := Event{Time: d.Time, Kind: KindAccepted, Account: d.Account, ID: d.ID, From: d.From, Rcpts: d.Rcpts,
		Protocol: d.Protocol, Rules: d.Findings}
	if d.ClientIP.IsValid() {
		e.ClientIP = d.ClientIP.String()
	}
	for _, f := range d.Findings {
		e.Score += f.Score
	}
	if d.Err != nil {
		e.Kind, e.Check = KindRefused, d.Err.Check
		e.Reply = fmt.Sprintf("%d %s %s", d.Err.Code, d.Err.Enhanced, d.Err.Text)
		e.Reason = d.Err.Detail
	}
	l.Add(e)
}
